"""``%flowat approvals link|list``: the magic face of ``flowat approvals``."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["magic_link", "magic_list"]


def magic_link(magics: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Make a link for a waiting step; returns it (its ``url`` is the credential)."""
    from flowat_kernel.api import default_workspace
    from flowat_kernel.cli.approvals import expiry_seconds, send_choice

    return (
        default_workspace()
        .approval_link(
            args.run_id,
            args.step,
            reviewer=args.reviewer,
            expires_seconds=expiry_seconds(args.expires),
            base_url=args.base_url,
            send=send_choice(args, "%flowat"),
        )
        .as_dict()
    )


def magic_list(magics: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The links made for a run, and how each was used."""
    from flowat_kernel.api import default_workspace

    return default_workspace().approval_links(args.run_id)
