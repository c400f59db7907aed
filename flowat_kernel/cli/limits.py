"""``flowat limits set|show|clear``: how many runs of a workflow may run at once."""

from __future__ import annotations

import argparse
from typing import Any

from flowat_kernel.cli.output import print_json, table
from flowat_kernel.commands import CommandError

__all__ = ["cmd_clear", "cmd_set", "cmd_show", "limit_target", "show_text"]


def limit_target(args: argparse.Namespace, face: str) -> str | None:
    """The workflow a ``limits`` line names; ``None`` for the organization's default.

    ``--org`` alone means the organization's default; on the command line ``--org SLUG``
    picks the organization and, without a workflow, means its default too.

    Raises:
        CommandError: neither a workflow nor ``--org``.

    """
    if args.workflow:
        return str(args.workflow)
    if args.org == "":  # "" when --org was not given; None when given alone
        raise CommandError(
            f"{face} limits {args.action} needs a WORKFLOW, or --org for the organization's default"
        )
    return None


def _door(args: argparse.Namespace) -> Any:
    from flowat_kernel.api import workspace_for
    from flowat_kernel.cli.access import cli_principal

    return workspace_for(cli_principal(args.org or None))


def show_text(shown: dict[str, Any]) -> str:
    """A ``limits show`` answer as lines of text."""

    def said(limit: dict[str, Any] | None) -> str:
        if limit is None:
            return "none"
        return f"{limit['max_concurrent_runs']} at once, when full: {limit['when_full']}"

    if shown["workflow"] is None:
        return f"organization default: {said(shown['organization_default'])}"
    rows = [
        ("own limit", said(shown["limit"])),
        ("organization default", said(shown["organization_default"])),
        ("in force", said(shown["effective"])),
        ("running / queued", f"{shown['running']} / {shown['queued']}"),
    ]
    return table([shown["workflow"], ""], rows)


def cmd_set(args: argparse.Namespace) -> int:
    """``flowat limits set W|--org --max-concurrent-runs N [--when-full POLICY]``."""
    workflow = limit_target(args, "flowat")
    info = _door(args).set_limit(workflow, args.max_concurrent_runs, args.when_full)
    if args.json:
        print_json(info.as_dict())
    else:
        what = workflow or "the organization's default"
        most = info.max_concurrent_runs
        print(f"{what}: at most {most} run(s) at once, when full: {info.when_full}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """``flowat limits show W|--org``."""
    shown = _door(args).limit(args.workflow or None)
    print_json(shown) if args.json else print(show_text(shown))
    return 0


def cmd_clear(args: argparse.Namespace) -> int:
    """``flowat limits clear W|--org``."""
    workflow = limit_target(args, "flowat")
    cleared = _door(args).clear_limit(workflow)
    what = workflow or "the organization's default"
    if args.json:
        print_json({"workflow": workflow, "cleared": cleared})
    else:
        print(f"{what}: limit removed" if cleared else f"{what}: no limit was set")
    return 0
