"""``flowat dlq ...``: the dead-letter queue of steps that exhausted their retries."""

from __future__ import annotations

import argparse
import sys

from flowat_kernel.cli.output import action_group, print_json, table

__all__ = ["add_dlq_parser"]


def _list(args: argparse.Namespace) -> int:
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


def _show(args: argparse.Namespace) -> int:
    from flowat_kernel.dlq import dlq_show

    print_json(dlq_show(args.id))
    return 0


def _retry(args: argparse.Namespace) -> int:
    from flowat_kernel.dlq import dlq_retry

    if not args.json:
        sys.stderr.write(f"re-driving {args.id} (latest version, from the failed step)\n")
    run = dlq_retry(args.id, wait=not args.no_wait)
    if args.json:
        print_json(run.to_json())
    else:
        print(f"{run.workflow} v{run.version} run {run.run_id}: {run.status}")
    return 0 if run.status in ("succeeded", "queued", "running") else 1


def _discard(args: argparse.Namespace) -> int:
    from flowat_kernel.dlq import dlq_discard

    dlq_discard(args.id)
    if args.json:
        print_json({"discarded": args.id})
    else:
        print(f"dead letter {args.id}: discarded")
    return 0


def add_dlq_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``flowat dlq`` and its actions to the top-level parser."""
    action = action_group(
        sub,
        "dlq",
        "dead-letter queue: steps that exhausted their retries",
        "Inspect, re-drive or discard steps that exhausted their retries.",
    )

    p = action("list", _list, "parked entries, newest first")
    p.add_argument("--all", action="store_true", help="also retried and discarded ones")
    p.add_argument("--limit", type=int, default=50)
    action("show", _show, "one entry: context, error and its input (masked)").add_argument("id")
    p = action("retry", _retry, "re-run once from the failed step, on the latest version")
    p.add_argument("id")
    p.add_argument("--no-wait", action="store_true", help="start the re-run and return")
    action("discard", _discard, "discard an entry").add_argument("id")
