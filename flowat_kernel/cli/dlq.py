"""``flowat dlq ...``: the dead-letter queue of steps that exhausted their retries."""

from __future__ import annotations

import argparse
import sys

from flowat_kernel.cli.output import print_json, table

__all__ = ["cmd_discard", "cmd_list", "cmd_retry", "cmd_show"]


def cmd_list(args: argparse.Namespace) -> int:
    """``flowat dlq list [--all] [--limit N]``."""
    from flowat_kernel.dlq import dlq_list

    letters = dlq_list(None if args.all else "parked", args.limit)
    if args.json:
        print_json([letter.as_dict() for letter in letters])
        return 0
    rows = [
        (
            letter.id,
            letter.created_at.strftime("%Y-%m-%d %H:%M"),
            f"{letter.workflow} v{letter.version}",
            letter.step,
            letter.status,
            str(letter.error.get("message", ""))[:60],
        )
        for letter in letters
    ]
    headers = ["id", "parked", "workflow", "step", "status", "error"]
    print(table(headers, rows) if rows else "the dead-letter queue is empty")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """``flowat dlq show ID``: one entry as JSON."""
    from flowat_kernel.dlq import dlq_show

    print_json(dlq_show(args.id))
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    """``flowat dlq retry ID [--no-wait] [--worker MODE]``: as ``flowat run`` starts runs.

    The exit code says whether the re-run succeeded.
    """
    from flowat_kernel.dlq import dlq_retry

    if not args.json:
        sys.stderr.write(f"re-driving {args.id} (latest version, from the failed step)\n")
    run = dlq_retry(args.id, wait=not args.no_wait, worker=args.worker)
    if args.json:
        print_json(run.to_json())
    else:
        print(f"{run.workflow} v{run.version} run {run.run_id}: {run.status}")
    return 0 if run.status in ("succeeded", "queued", "running") else 1


def cmd_discard(args: argparse.Namespace) -> int:
    """``flowat dlq discard ID``."""
    from flowat_kernel.dlq import dlq_discard

    dlq_discard(args.id)
    if args.json:
        print_json({"discarded": args.id})
    else:
        print(f"dead letter {args.id}: discarded")
    return 0
