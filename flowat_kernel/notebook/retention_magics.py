"""``%flowat delete``, ``%flowat runs delete``, ``%flowat retention``, ``%flowat workflows``.

The magic faces of ``flowat runs delete``, ``flowat workflows delete`` and ``flowat
retention``; they act in the notebook's own organization.
"""

from __future__ import annotations

import argparse
from typing import Any

from flowat_kernel.commands import CommandError

__all__ = [
    "delete",
    "retention_apply",
    "retention_clear",
    "retention_set",
    "retention_show",
    "runs",
    "workflows_delete",
    "workflows_list",
]


def _door() -> Any:
    from flowat_kernel.api import default_workspace

    return default_workspace()


def _target(args: argparse.Namespace) -> str | None:
    from flowat_kernel.cli.retention import policy_target

    if args.org not in ("", None):
        raise CommandError(
            "in a notebook --org takes no organization name: the notebook acts in its own; "
            "--org alone sets the organization's default"
        )
    return policy_target(args, "%flowat")


def delete(magics: Any, args: argparse.Namespace) -> dict[str, Any]:
    """``%flowat delete run RUN... [--force]`` or ``%flowat delete workflow W [--force]``."""
    if args.what == "workflow":
        if len(args.targets) != 1:
            raise CommandError("%flowat delete workflow takes one WORKFLOW")
        return dict(_door().delete_workflow(args.targets[0], force=args.force))
    report = _door().delete_runs(args.targets, force=args.force)
    result: dict[str, Any] = report.as_dict()
    return result


def runs(magics: Any, args: argparse.Namespace) -> Any:
    """``%flowat runs [W]``, and ``%flowat runs delete RUN... [--force]``."""
    if args.workflow != "delete":
        if args.run_ids or args.force:
            raise CommandError(
                "%flowat runs takes one WORKFLOW; to delete runs: %flowat runs delete RUN..."
            )
        from flowat_kernel.notebook.magics import runs as list_runs

        return list_runs(magics, args)
    if not args.run_ids:
        raise CommandError("%flowat runs delete needs at least one RUN id")
    return _door().delete_runs(args.run_ids, force=args.force).as_dict()


def workflows_list(magics: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The workflows with their latest version."""
    return [
        {"workflow": v.workflow, "latest_version": v.number, "published_at": v.created_at}
        for v in _door().workflows()
    ]


def workflows_delete(magics: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Delete a workflow with everything of it."""
    return dict(_door().delete_workflow(args.workflow, force=args.force))


def retention_set(magics: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Set a workflow's (or with ``--org``, the organization's) retention policy."""
    policy = _door().set_retention(_target(args), days=args.days, keep=args.keep)
    result: dict[str, Any] = policy.as_dict()
    return result


def retention_show(magics: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The organization's retention policies."""
    return [p.as_dict() for p in _door().retention(args.workflow)]


def retention_clear(magics: Any, args: argparse.Namespace) -> None:
    """Remove a policy."""
    _door().clear_retention(_target(args))


def retention_apply(magics: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Apply the organization's policies now."""
    result: dict[str, Any] = _door().apply_retention().as_dict()
    return result
