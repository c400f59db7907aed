"""``flowat alerts add|list|remove``: what happens when a run fails, succeeds or times out."""

from __future__ import annotations

import argparse
from typing import Any

from flowat_kernel.cli.output import print_json, table
from flowat_kernel.commands import CommandError

__all__ = ["alert_request", "cmd_add", "cmd_list", "cmd_remove"]


def alert_request(args: argparse.Namespace, face: str) -> dict[str, Any]:
    """The workflow, kind and target an ``alerts add`` line asks for (CLI and magic).

    Raises:
        CommandError: no target or more than one, or neither a workflow nor --org-default.

    """
    given = [
        (kind, value)
        for kind, value in (
            ("webhook", args.webhook),
            ("chat", args.chat),
            ("email", args.email),
            ("workflow", args.handler),
        )
        if value
    ]
    if len(given) != 1:
        raise CommandError(
            f"{face} alerts add needs exactly one of --webhook URL, --chat URL, --email ADDR, "
            "--workflow HANDLER"
        )
    if bool(args.workflow) == bool(args.org_default):
        raise CommandError(f"{face} alerts add needs a WORKFLOW, or --org-default (not both)")
    kind, target = given[0]
    return {
        "workflow": args.workflow or None,
        "on": args.on,
        "kind": kind,
        "target": target,
        "message": args.message,
    }


def _rows(alerts: list[Any]) -> str:
    rows = [
        (
            a.id,
            a.workflow or "(organization default)",
            a.event,
            a.kind,
            a.target,
            (a.message or "")[:40],
        )
        for a in alerts
    ]
    headers = ["id", "workflow", "on", "action", "target", "message"]
    return table(headers, rows) if rows else "no alerts"


def _door(args: argparse.Namespace) -> Any:
    from flowat_kernel.api import workspace_for
    from flowat_kernel.cli.access import cli_principal

    return workspace_for(cli_principal(args.org))


def cmd_add(args: argparse.Namespace) -> int:
    """``flowat alerts add W --on EVENT (--webhook|--chat|--email|--workflow) [--message T]``."""
    created = _door(args).add_alert(**alert_request(args, "flowat"))
    print_json(created.as_dict()) if args.json else print(_rows([created]))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """``flowat alerts list [W]``."""
    alerts = _door(args).alerts(args.workflow)
    print_json([a.as_dict() for a in alerts]) if args.json else print(_rows(alerts))
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    """``flowat alerts remove ID``."""
    removed = _door(args).remove_alert(args.id)
    print_json({"removed": removed.id}) if args.json else print(f"removed {removed.id}")
    return 0
