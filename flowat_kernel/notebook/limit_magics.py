"""``%flowat limits set|show|clear``: the magic face of ``flowat limits``.

They act in the notebook's own organization: ``--org`` alone means its default.
"""

from __future__ import annotations

import argparse
from typing import Any

from flowat_kernel.commands import CommandError

__all__ = ["limits_clear", "limits_set", "limits_show"]


def _target(args: argparse.Namespace) -> str | None:
    from flowat_kernel.cli.limits import limit_target

    if args.org not in ("", None):
        raise CommandError(
            "in a notebook --org takes no organization name: the notebook acts in its own; "
            "--org alone means the organization's default"
        )
    return limit_target(args, "%flowat")


def limits_set(magics: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Set a workflow's (or the organization's default) limit; returns it."""
    from flowat_kernel.api import default_workspace

    info = default_workspace().set_limit(_target(args), args.max_concurrent_runs, args.when_full)
    result: dict[str, Any] = info.as_dict()
    return result


def limits_show(magics: Any, args: argparse.Namespace) -> dict[str, Any]:
    """A workflow's limit, the organization's default, and how many run and wait."""
    from flowat_kernel.api import default_workspace

    if args.org not in ("", None):
        raise CommandError(
            "in a notebook --org takes no organization name: the notebook acts in its own"
        )
    shown: dict[str, Any] = default_workspace().limit(args.workflow or None)
    return shown


def limits_clear(magics: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Remove a workflow's (or the organization's default) limit."""
    from flowat_kernel.api import default_workspace

    target = _target(args)
    return {"workflow": target, "cleared": default_workspace().clear_limit(target)}
