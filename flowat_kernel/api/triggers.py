"""The triggers' part of the Python API: schedules and webhooks through the workspace.

They act for the default workspace's principal (``FLOWAT_API_KEY``'s member, else the
local user), or for ``principal`` when one is given. ``flowat schedules``,
``flowat webhooks`` and ``%flowat schedule`` call these.
"""

from __future__ import annotations

from typing import Any

from flowat_kernel.access.principal import Principal
from flowat_kernel.triggers.schedules import ScheduleInfo
from flowat_kernel.triggers.webhooks import CreatedWebhook, WebhookInfo
from flowat_kernel.workspace import Workspace

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


def _door(principal: Principal | None) -> Workspace:
    from flowat_kernel.api import default_workspace, workspace_for

    return default_workspace() if principal is None else workspace_for(principal)


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
    return _door(principal).add_schedule(
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
    return _door(principal).list_schedules()


def pause_schedule(schedule_id: str, principal: Principal | None = None) -> ScheduleInfo:
    """Pause a schedule."""
    return _door(principal).schedule_action(schedule_id, "pause")


def resume_schedule(schedule_id: str, principal: Principal | None = None) -> ScheduleInfo:
    """Resume a schedule."""
    return _door(principal).schedule_action(schedule_id, "resume")


def trigger_schedule(schedule_id: str, principal: Principal | None = None) -> ScheduleInfo:
    """Fire a schedule once now."""
    return _door(principal).schedule_action(schedule_id, "trigger")


def delete_schedule(schedule_id: str, principal: Principal | None = None) -> ScheduleInfo:
    """Delete a schedule."""
    return _door(principal).schedule_action(schedule_id, "delete")


def add_webhook(
    workflow: str,
    *,
    version: int | None = None,
    signed: bool = True,
    batch: int | None = None,
    batch_window: str | int | None = None,
    principal: Principal | None = None,
) -> CreatedWebhook:
    """A webhook for ``workflow``; its token and secret are in the result only.

    With ``batch``, events arriving within ``batch_window`` (``20ms`` by default) of the
    first are grouped, up to ``batch`` of them, into one run whose ``events`` input is
    their list.
    """
    return _door(principal).add_webhook(
        workflow, version=version, signed=signed, batch=batch, batch_window=batch_window
    )


def list_webhooks(principal: Principal | None = None) -> list[WebhookInfo]:
    """The organization's webhooks (no tokens)."""
    return _door(principal).list_webhooks()


def delete_webhook(webhook_id: str, principal: Principal | None = None) -> None:
    """Delete a webhook."""
    _door(principal).delete_webhook(webhook_id)
