"""``flowat ratelimit set|list|remove``: rate limits per connector host (CLI and magic)."""

from __future__ import annotations

import argparse
from typing import Any

from flowat_kernel.cli.output import print_json, table

__all__ = [
    "cmd_list",
    "cmd_remove",
    "cmd_set",
    "rows",
]


def rows(limits: list[Any]) -> str:
    """The limits as a table."""
    body = [
        (
            limit.host,
            limit.connector,
            "-" if limit.per_second is None else limit.per_second,
            "-" if limit.concurrent is None else limit.concurrent,
            limit.updated_by,
        )
        for limit in limits
    ]
    headers = ["host", "connector", "per second", "concurrent", "set by"]
    return table(headers, body) if body else "no rate limits"


def _door(args: argparse.Namespace) -> Any:
    from flowat_kernel.api import workspace_for
    from flowat_kernel.cli.access import cli_principal

    return workspace_for(cli_principal(args.org))


def cmd_set(args: argparse.Namespace) -> int:
    """``flowat ratelimit set HOST [--per-second N] [--concurrent N] [--connector C]``."""
    info = _door(args).set_rate_limit(
        args.host, per_second=args.per_second, concurrent=args.concurrent, connector=args.connector
    )
    print_json(info.as_dict()) if args.json else print(rows([info]))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """``flowat ratelimit list``."""
    limits = _door(args).rate_limits()
    print_json([limit.as_dict() for limit in limits]) if args.json else print(rows(limits))
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    """``flowat ratelimit remove HOST [--connector C]``."""
    removed = _door(args).remove_rate_limit(args.host, connector=args.connector)
    document = {"removed": {"host": removed.host, "connector": removed.connector}}
    print_json(document) if args.json else print(f"removed {removed.connector}@{removed.host}")
    return 0
