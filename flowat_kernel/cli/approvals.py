"""``flowat approvals link|list``: approve/reject links for ``--wait-for`` steps."""

from __future__ import annotations

import argparse
from typing import Any

from flowat_kernel.cli.output import print_json, table
from flowat_kernel.commands import CommandError

__all__ = ["cmd_link", "cmd_list", "expiry_seconds", "rows", "send_choice"]


def expiry_seconds(text: str) -> float:
    """``--expires`` in seconds.

    Raises:
        CommandError: not a duration such as 30m, 24h or 3600.

    """
    from flowat_kernel.compiler.header import parse_duration

    try:
        return parse_duration(str(text).strip())
    except ValueError as exc:
        raise CommandError(f"--expires: {exc}") from None


def send_choice(args: argparse.Namespace, face: str) -> tuple[str, str] | None:
    """``(kind, target)`` of ``--chat|--webhook|--email`` (at most one), or ``None``.

    Raises:
        CommandError: more than one was given.

    """
    given = [
        (kind, value)
        for kind, value in (("chat", args.chat), ("webhook", args.webhook), ("email", args.email))
        if value
    ]
    if len(given) > 1:
        raise CommandError(f"{face} approvals link sends to one of --chat, --webhook, --email")
    return given[0] if given else None


def rows(links: list[dict[str, Any]]) -> str:
    """Links as a table."""
    body = [
        (
            link["id"][:12],
            link["step"],
            link["reviewer"] or "-",
            link["expires_at"][:16],
            link["decision"] or "-",
            link["decided_by"] or "-",
        )
        for link in links
    ]
    headers = ["link", "step", "reviewer", "expires", "decision", "by"]
    return table(headers, body) if body else "no approval links"


def _door(args: argparse.Namespace) -> Any:
    from flowat_kernel.api import workspace_for
    from flowat_kernel.cli.access import cli_principal

    return workspace_for(cli_principal(args.org))


def cmd_link(args: argparse.Namespace) -> int:
    """``flowat approvals link RUN STEP [--reviewer NAME] [--expires 24h] [--base-url URL]``."""
    link = _door(args).approval_link(
        args.run_id,
        args.step,
        reviewer=args.reviewer,
        expires_seconds=expiry_seconds(args.expires),
        base_url=args.base_url,
        send=send_choice(args, "flowat"),
    )
    if args.json:
        print_json(link.as_dict())
    elif link.sent_to:
        print(
            f"sent to {link.sent_to[0]} {link.sent_to[1]} "
            f"(single use, until {link.expires_at:%Y-%m-%d %H:%M} UTC)"
        )
    else:
        print(link.url)
        print(
            f"(single use, until {link.expires_at:%Y-%m-%d %H:%M} UTC; "
            "hand it only to the reviewer)"
        )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """``flowat approvals list RUN``."""
    links = _door(args).approval_links(args.run_id)
    print_json(links) if args.json else print(rows(links))
    return 0
