"""``flowat runs delete``, ``flowat workflows list|delete``, ``flowat retention ...``.

Deleting a run or a workflow removes it everywhere (records, logs, outputs, artifacts,
analytics events, its Temporal executions); the audit log keeps who deleted what.
Retention policies keep a workflow's finished runs for some days and/or the newest few.
"""

from __future__ import annotations

import argparse
from typing import Any

from flowat_kernel.cli.output import print_json, table
from flowat_kernel.commands import CommandError

__all__ = [
    "cmd_retention_apply",
    "cmd_retention_clear",
    "cmd_retention_set",
    "cmd_retention_show",
    "cmd_runs",
    "cmd_workflows_delete",
    "cmd_workflows_list",
    "policy_rows",
    "policy_target",
]


def _door(args: argparse.Namespace) -> Any:
    from flowat_kernel.api import workspace_for
    from flowat_kernel.cli.access import cli_principal

    return workspace_for(cli_principal(getattr(args, "org", None) or None))


def policy_target(args: argparse.Namespace, face: str) -> str | None:
    """The workflow a ``retention set|clear`` line names; ``None`` for ``--org``.

    ``--org`` alone is the organization's default policy; ``--org SLUG`` (command line)
    picks the organization, and without a workflow means its default policy too.

    Raises:
        CommandError: neither a workflow nor ``--org``.

    """
    org_flag = args.org != ""  # "" when --org was not given; None when given alone
    if args.workflow:
        return str(args.workflow)
    if not org_flag:
        raise CommandError(
            f"{face} retention {args.action} needs a WORKFLOW, or --org for the "
            "organization's default"
        )
    return None


def policy_rows(policies: list[Any]) -> str:
    """Policies as a table."""
    rows = [
        (
            p.workflow or "(organization default)",
            "" if p.days is None else f"{p.days} days",
            "" if p.keep is None else f"newest {p.keep}",
            p.updated_by,
            p.updated_at.strftime("%Y-%m-%d %H:%M"),
        )
        for p in policies
    ]
    headers = ["workflow", "keep for", "keep count", "set by", "set at"]
    return table(headers, rows) if rows else "no retention policies: runs are kept for ever"


def _report(report: Any) -> str:
    text = (
        f"deleted {report.runs} run(s): {report.executions} Temporal execution(s), "
        f"{report.artifacts} artifact(s), {report.events} analytics event(s)"
    )
    if report.kept:
        text += f"; kept {len(report.kept)} whose execution Temporal would not delete"
    return text


def cmd_runs(args: argparse.Namespace) -> int:
    """``flowat runs [W]``, and ``flowat runs delete RUN... [--force]``."""
    if args.workflow != "delete":
        if args.run_ids or args.force:
            raise CommandError(
                "flowat runs takes one WORKFLOW; to delete runs: flowat runs delete RUN..."
            )
        from flowat_kernel.cli.commands import cmd_runs as list_runs

        return list_runs(args)
    if not args.run_ids:
        raise CommandError("flowat runs delete needs at least one RUN id")
    report = _door(args).delete_runs(args.run_ids, force=args.force)
    print_json(report.as_dict()) if args.json else print(_report(report))
    return 0


def cmd_workflows_list(args: argparse.Namespace) -> int:
    """``flowat workflows list``: each workflow's latest version."""
    versions = _door(args).workflows()
    rows = [(v.workflow, v.number, v.created_at.strftime("%Y-%m-%d %H:%M")) for v in versions]
    if args.json:
        print_json([{"workflow": w, "latest_version": n, "published_at": t} for w, n, t in rows])
    else:
        print(table(["workflow", "latest", "published"], rows) if rows else "no workflows")
    return 0


def cmd_workflows_delete(args: argparse.Namespace) -> int:
    """``flowat workflows delete W [--force]``."""
    summary = _door(args).delete_workflow(args.workflow, force=args.force)
    if args.json:
        print_json(summary)
    else:
        print(
            f"deleted workflow {args.workflow}: {summary['versions']} version(s), "
            f"{summary['runs']} run(s), {summary['schedules']} schedule(s), "
            f"{summary['webhooks']} webhook(s)"
        )
    return 0


def cmd_retention_set(args: argparse.Namespace) -> int:
    """``flowat retention set W|--org [--days N] [--keep N]``."""
    workflow = policy_target(args, "flowat")
    policy = _door(args).set_retention(workflow, days=args.days, keep=args.keep)
    print_json(policy.as_dict()) if args.json else print(policy_rows([policy]))
    return 0


def cmd_retention_show(args: argparse.Namespace) -> int:
    """``flowat retention show [W]``."""
    policies = _door(args).retention(args.workflow)
    print_json([p.as_dict() for p in policies]) if args.json else print(policy_rows(policies))
    return 0


def cmd_retention_clear(args: argparse.Namespace) -> int:
    """``flowat retention clear W|--org``."""
    removed = _door(args).clear_retention(policy_target(args, "flowat"))
    what = removed.workflow or "the organization's default"
    print_json({"removed": removed.as_dict()}) if args.json else print(f"removed {what}")
    return 0


def cmd_retention_apply(args: argparse.Namespace) -> int:
    """``flowat retention apply``: apply the organization's policies now."""
    report = _door(args).apply_retention()
    print_json(report.as_dict()) if args.json else print(_report(report))
    return 0
