"""The triggers' part of the Python API, acting as the local user by default.

``flowat schedules``, ``flowat webhooks`` and ``%flowat schedule`` call these.
"""

from __future__ import annotations

from typing import Any

from flowat_kernel.access.principal import Principal
from flowat_kernel.triggers.schedules import ScheduleInfo, Schedules
from flowat_kernel.triggers.webhooks import CreatedWebhook, WebhookInfo, Webhooks

__all__ = [
    "add_schedule",
    "add_webhook",
    "delete_schedule",
    "delete_webhook",
    "list_schedules",
    "list_webhooks",
    "pause_schedule",
    "resume_schedule",
    "trigger_schedule",
]


def _who(principal: Principal | None) -> Principal:
    from flowat_kernel.access.service import local_principal

    return principal or local_principal()


def _schedules() -> Schedules:
    from flowat_kernel.runtime import get_runtime

    return Schedules(get_runtime())


def add_schedule(
    workflow: str,
    cron: str | None = None,
    *,
    every: str | None = None,
    parameters: dict[str, Any] | None = None,
    version: int | None = None,
    timezone: str = "UTC",
    overlap: str = "skip",
    catchup: str = "1m",
    paused: bool = False,
    principal: Principal | None = None,
) -> ScheduleInfo:
    """Schedule ``workflow`` on a cron expression (or ``every="10m"``).

    Args:
        workflow: the workflow's name.
        cron: a five-field cron expression, e.g. ``"0 * * * *"`` (hourly).
        every: an interval instead of cron, e.g. ``"30s"``, ``"15m"``.
        parameters: run parameters (coerced at each firing to the inputs' types).
        version: pin a version; ``None`` follows the latest at each firing.
        timezone: IANA time zone of the cron expression.
        overlap: skip, buffer_one, buffer_all, cancel_other, terminate_other or allow_all.
        catchup: how late a missed firing may still run (e.g. after downtime).
        paused: create it paused.
        principal: who acts (the local user by default).

    """
    return _schedules().add(
        _who(principal),
        workflow,
        cron=cron,
        every=every,
        timezone=timezone,
        version=version,
        parameters=parameters,
        overlap=overlap,
        catchup=catchup,
        paused=paused,
    )


def list_schedules(principal: Principal | None = None) -> list[ScheduleInfo]:
    """The organization's schedules with their state."""
    return _schedules().list(_who(principal).owner)


def pause_schedule(schedule_id: str, principal: Principal | None = None) -> ScheduleInfo:
    """Pause a schedule."""
    return _schedules().pause(_who(principal), schedule_id)


def resume_schedule(schedule_id: str, principal: Principal | None = None) -> ScheduleInfo:
    """Resume a schedule."""
    return _schedules().resume(_who(principal), schedule_id)


def trigger_schedule(schedule_id: str, principal: Principal | None = None) -> ScheduleInfo:
    """Fire a schedule once now."""
    return _schedules().trigger(_who(principal), schedule_id)


def delete_schedule(schedule_id: str, principal: Principal | None = None) -> ScheduleInfo:
    """Delete a schedule."""
    return _schedules().delete(_who(principal), schedule_id)


def _webhooks() -> Webhooks:
    from flowat_kernel.runtime import get_runtime

    return Webhooks(get_runtime().vault)


def add_webhook(
    workflow: str,
    *,
    version: int | None = None,
    signed: bool = True,
    principal: Principal | None = None,
) -> CreatedWebhook:
    """A webhook for ``workflow``; its token and secret are in the result only."""
    who = _who(principal)
    who.require("webhooks:write", workflow)
    from flowat_kernel.runtime import get_runtime

    get_runtime().store.get_version(who.owner, workflow, version)
    return _webhooks().create(who, workflow, version, signed)


def list_webhooks(principal: Principal | None = None) -> list[WebhookInfo]:
    """The organization's webhooks (no tokens)."""
    return _webhooks().list(_who(principal).owner)


def delete_webhook(webhook_id: str, principal: Principal | None = None) -> None:
    """Delete a webhook."""
    who = _who(principal)
    who.require("webhooks:write")
    _webhooks().delete(who, webhook_id)
