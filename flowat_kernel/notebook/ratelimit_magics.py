"""``%flowat ratelimit set|list|remove``: the magic face of ``flowat ratelimit``."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["magic_list", "magic_remove", "magic_set"]


def magic_set(magics: Any, args: argparse.Namespace) -> dict[str, Any]:
    """``%flowat ratelimit set``: returns the limit."""
    from flowat_kernel.api import default_workspace

    return (
        default_workspace()
        .set_rate_limit(
            args.host,
            per_second=args.per_second,
            concurrent=args.concurrent,
            connector=args.connector,
        )
        .as_dict()
    )


def magic_list(magics: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    """``%flowat ratelimit list``."""
    from flowat_kernel.api import default_workspace

    return [limit.as_dict() for limit in default_workspace().rate_limits()]


def magic_remove(magics: Any, args: argparse.Namespace) -> None:
    """``%flowat ratelimit remove``."""
    from flowat_kernel.api import default_workspace

    default_workspace().remove_rate_limit(args.host, connector=args.connector)
