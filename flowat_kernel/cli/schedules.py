"""``flowat schedules`` and ``flowat webhooks``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from flowat_kernel.cli.output import print_json, table
from flowat_kernel.commands import CommandError, parameters

__all__ = ["cmd_schedules", "cmd_webhooks"]


def _schedule_rows(items: list[Any]) -> str:
    rows = [
        (
            s.id,
            s.workflow,
            s.spec.get("cron") or f"every {s.spec.get('every')}",
            s.spec.get("timezone"),
            s.version if s.version is not None else "latest",
            "paused" if s.paused else "active",
            s.next_runs[0][:19] if s.next_runs else "",
        )
        for s in items
    ]
    headers = ["id", "workflow", "when", "time zone", "version", "state", "next"]
    return table(headers, rows) if rows else "no schedules"


def cmd_schedules(args: argparse.Namespace) -> int:
    """``flowat schedules add|list|pause|resume|trigger|delete``."""
    from flowat_kernel.api import triggers as api
    from flowat_kernel.cli.access import cli_principal

    who = cli_principal(args.org)
    if args.action == "list":
        items = api.list_schedules(who)
        print_json([s.as_dict() for s in items]) if args.json else print(_schedule_rows(items))
        return 0
    if args.action == "add":
        if not args.target:
            raise CommandError('usage: flowat schedules add WORKFLOW "CRON" [-p k=v] (or --every)')
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
            principal=who,
        )
    else:
        if not args.target:
            raise CommandError(f"flowat schedules {args.action} needs a schedule id")
        action = {
            "pause": api.pause_schedule,
            "resume": api.resume_schedule,
            "trigger": api.trigger_schedule,
            "delete": api.delete_schedule,
        }[args.action]
        info = action(args.target, who)
    if args.json:
        print_json(info.as_dict())
    else:
        print(f"schedule {info.id} of {info.workflow}: {args.action} done")
        if args.action != "delete":
            print(_schedule_rows([info]))
    return 0


def cmd_webhooks(args: argparse.Namespace) -> int:
    """``flowat webhooks add|list|delete``."""
    from flowat_kernel.api import triggers as api
    from flowat_kernel.cli.access import cli_principal

    who = cli_principal(args.org)
    if args.action == "list":
        hooks = api.list_webhooks(who)
        if args.json:
            print_json([h.as_dict() for h in hooks])
        else:
            rows = [
                (h.id, h.workflow, h.version or "latest", h.signed, h.token_hint) for h in hooks
            ]
            headers = ["id", "workflow", "version", "signed", "token starts"]
            print(table(headers, rows) if rows else "no webhooks")
        return 0
    if not args.target:
        raise CommandError(f"flowat webhooks {args.action} needs a workflow (add) or an id")
    if args.action == "delete":
        api.delete_webhook(args.target, who)
        print_json({"deleted": args.target}) if args.json else print(f"deleted {args.target}")
        return 0
    created = api.add_webhook(
        args.target,
        version=args.version,
        signed=not args.unsigned,
        batch=args.batch,
        batch_window=args.batch_window,
        principal=who,
    )
    path = f"/api/v1/hooks/{created.token}"
    if args.json:
        print_json({**created.info.as_dict(), "path": path, "secret": created.secret})
    else:
        print(path)
        if created.secret:
            print(created.secret)
        sys.stderr.write(
            "The URL path (append it to the API's address) and the signing secret are shown "
            "only now: store them.\n"
        )
    return 0
