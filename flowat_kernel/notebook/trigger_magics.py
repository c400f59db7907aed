"""``%flowat schedule`` and ``%flowat webhook``: triggers from the notebook.

They parse, then call :mod:`flowat_kernel.triggers.api`. ``FlowAtMagics`` picks them
up as ``_cmd_schedule`` and ``_cmd_webhook`` (see :func:`cmd_schedule`).

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

from flowat_kernel.errors import FlowAtError

__all__ = ["ScheduleTable", "cmd_schedule", "cmd_webhook"]

_ACTIONS = ("list", "pause", "resume", "trigger", "delete")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise FlowAtError(f"{self.prog}: {message}")


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


def cmd_schedule(magics: Any, argv: list[str]) -> Any:
    """``%flowat schedule ...``: add a schedule, or list, pause, resume, trigger, delete."""
    from flowat_kernel.params import parse_assignments
    from flowat_kernel.triggers import api

    if argv[:1] == ["list"] or not argv:
        return ScheduleTable(api.list_schedules())
    if argv[0] in _ACTIONS:
        if len(argv) != 2:
            raise FlowAtError(f"usage: %flowat schedule {argv[0]} SCHEDULE_ID")
        action = {
            "pause": api.pause_schedule,
            "resume": api.resume_schedule,
            "trigger": api.trigger_schedule,
            "delete": api.delete_schedule,
        }[argv[0]]
        if argv[0] in ("resume", "trigger"):
            _fire_here()
        return ScheduleTable([action(argv[1])])
    if argv[0] == "add":
        argv = argv[1:]
    parser = _Parser(prog="%flowat schedule", add_help=False)
    parser.add_argument("workflow")
    parser.add_argument("cron", nargs="?")
    parser.add_argument("-p", "--param", action="append", default=[])
    parser.add_argument("--every")
    parser.add_argument("--version", type=int)
    parser.add_argument("--timezone", default="UTC")
    parser.add_argument("--overlap", default="skip")
    parser.add_argument("--catchup", default="1m")
    parser.add_argument("--paused", action="store_true")
    args = parser.parse_args(argv)
    info = api.add_schedule(
        args.workflow,
        args.cron,
        every=args.every,
        parameters=parse_assignments(args.param),
        version=args.version,
        timezone=args.timezone,
        overlap=args.overlap,
        catchup=args.catchup,
        paused=args.paused,
    )
    if not args.paused:
        _fire_here()
    return ScheduleTable([info])


def cmd_webhook(magics: Any, argv: list[str]) -> Any:
    """``%flowat webhook W``: a trigger URL path and signing secret, shown once."""
    from flowat_kernel.triggers import api

    if argv[:1] == ["list"] or not argv:
        return [h.as_dict() for h in api.list_webhooks()]
    if argv[0] == "delete":
        if len(argv) != 2:
            raise FlowAtError("usage: %flowat webhook delete WEBHOOK_ID")
        api.delete_webhook(argv[1])
        return None
    parser = _Parser(prog="%flowat webhook", add_help=False)
    parser.add_argument("workflow")
    parser.add_argument("--version", type=int)
    parser.add_argument("--unsigned", action="store_true")
    args = parser.parse_args(argv)
    created = api.add_webhook(args.workflow, version=args.version, signed=not args.unsigned)
    # Shown once, as the value of the cell; nothing is stored in the notebook's code.
    return {
        **created.info.as_dict(),
        "path": f"/api/v1/hooks/{created.token}",
        "secret": created.secret,
    }
