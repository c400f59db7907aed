"""Triggers: webhooks (signed or not) and Temporal Schedules."""

from flowat_kernel.triggers.schedules import OVERLAP_POLICIES, ScheduleInfo, Schedules
from flowat_kernel.triggers.webhooks import CreatedWebhook, WebhookInfo, Webhooks

__all__ = [
    "OVERLAP_POLICIES",
    "CreatedWebhook",
    "ScheduleInfo",
    "Schedules",
    "WebhookInfo",
    "Webhooks",
]
