"""``%flowat schedule`` and ``%flowat webhook``: triggers from the notebook.

Their grammar is declared with ``flowat schedules`` and ``flowat webhooks`` in
:mod:`flowat_kernel.commands.catalog` (in a notebook the action ``add`` may be left
out); they call :mod:`flowat_kernel.api.triggers`.

::

    %flowat schedule W "0 * * * *" [-p k=v ...] [--every 30s] [--version N]
                       [--timezone Europe/Paris] [--overlap skip] [--catchup 1m] [--paused]
    %flowat schedule list | pause ID | resume ID | trigger ID | delete ID
    %flowat webhook W [--unsigned] [--version N] | list | delete ID
"""

from __future__ import annotations

import argparse
import html
from typing import Any

from flowat_kernel.commands import CommandError, parameters

__all__ = ["ScheduleTable", "schedule", "webhook"]


class ScheduleTable:
    """Schedules shown as a table in the notebook (and as text elsewhere)."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def _rows(self) -> list[tuple[str, ...]]:
        return [
            (
                s.id,
                s.workflow,
                str(s.spec.get("cron") or f"every {s.spec.get('every')}"),
                str(s.spec.get("timezone")),
                str(s.version if s.version is not None else "latest"),
                "paused" if s.paused else "active",
                s.next_runs[0][:19] if s.next_runs else "",
            )
            for s in self.items
        ]

    def __repr__(self) -> str:
        rows = self._rows()
        if not rows:
            return "no schedules"
        return "\n".join("  ".join(row) for row in rows)

    def _repr_html_(self) -> str:
        head = "".join(
            f"<th>{h}</th>"
            for h in ("id", "workflow", "when", "time zone", "version", "state", "next")
        )
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in self._rows()
        )
        return f"<table><tr>{head}</tr>{body}</table>"


def _fire_here() -> None:
    """Poll in this kernel, as ``%flowat run`` does, so firings start while it lives.

    A schedule lives in Temporal; its firings wait there until a schedule launcher and
    a worker poll (``flowat dev``, ``flowat worker``, ``flowat serve``, or this kernel).
    """
    from flowat_kernel.runtime import get_runtime
    from flowat_kernel.triggers.worker import ensure_trigger_worker

    runtime = get_runtime()
    runtime.call(runtime.ensure_worker())
    ensure_trigger_worker(runtime)


def schedule(magics: Any, args: argparse.Namespace) -> Any:
    """``%flowat schedule ...``: add a schedule, or list, pause, resume, trigger, delete."""
    from flowat_kernel.api import triggers as api

    if args.action == "list":
        return ScheduleTable(api.list_schedules())
    if args.action != "add":
        if not args.target or args.cron is not None:
            raise CommandError(f"usage: %flowat schedule {args.action} SCHEDULE_ID")
        action = {
            "pause": api.pause_schedule,
            "resume": api.resume_schedule,
            "trigger": api.trigger_schedule,
            "delete": api.delete_schedule,
        }[args.action]
        if args.action in ("resume", "trigger"):
            _fire_here()
        return ScheduleTable([action(args.target)])
    if not args.target:
        raise CommandError('usage: %flowat schedule WORKFLOW "CRON" [-p key=value ...]')
    info = api.add_schedule(
        args.target,
        args.cron,
        every=args.every,
        parameters=parameters(args.param),
        version=args.version,
        timezone=args.timezone,
        overlap=args.overlap,
        catchup=args.catchup,
        paused=args.paused,
    )
    if not args.paused:
        _fire_here()
    return ScheduleTable([info])


def webhook(magics: Any, args: argparse.Namespace) -> Any:
    """``%flowat webhook W``: a trigger URL path and signing secret, shown once."""
    from flowat_kernel.api import triggers as api

    if args.action == "list":
        return [h.as_dict() for h in api.list_webhooks()]
    if not args.target:
        what = "WEBHOOK_ID" if args.action == "delete" else "WORKFLOW [--unsigned]"
        raise CommandError(f"usage: %flowat webhook {args.action} {what}")
    if args.action == "delete":
        api.delete_webhook(args.target)
        return None
    created = api.add_webhook(
        args.target,
        version=args.version,
        signed=not args.unsigned,
        batch=args.batch,
        batch_window=args.batch_window,
    )
    # Shown once, as the value of the cell; nothing is stored in the notebook's code.
    return {
        **created.info.as_dict(),
        "path": f"/api/v1/hooks/{created.token}",
        "secret": created.secret,
    }
