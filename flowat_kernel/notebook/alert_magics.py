"""``%flowat alerts add|list|remove``: the magic face of ``flowat alerts``."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["alerts_add", "alerts_list", "alerts_remove"]


def alerts_add(magics: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Add an alert; returns it."""
    from flowat_kernel.api import default_workspace
    from flowat_kernel.cli.alerts import alert_request

    return default_workspace().add_alert(**alert_request(args, "%flowat")).as_dict()


def alerts_list(magics: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The organization's alerts (with a workflow: its own and the defaults)."""
    from flowat_kernel.api import default_workspace

    return [a.as_dict() for a in default_workspace().alerts(args.workflow)]


def alerts_remove(magics: Any, args: argparse.Namespace) -> None:
    """Remove an alert."""
    from flowat_kernel.api import default_workspace

    default_workspace().remove_alert(args.id)
