"""``flowat queues [Q...]``: each task queue's backlog, pollers and oldest task."""

from __future__ import annotations

import argparse

from flowat_kernel.cli.output import print_json, table

__all__ = ["cmd_queues"]


def cmd_queues(args: argparse.Namespace) -> int:
    """Print the queues' figures (``--json``: as JSON, for scripts and autoscalers)."""
    from flowat_kernel.api import default_workspace

    report = default_workspace().queues(list(args.names) or None)
    if args.json:
        print_json([queue.as_dict() for queue in report])
        return 0
    rows = [
        (
            queue.name,
            queue.workflow.backlog,
            queue.activity.backlog,
            f"{queue.oldest_task_seconds:.1f}s" if queue.backlog else "",
            len(queue.pollers),
            ", ".join(queue.pollers)[:60] or "none: nothing runs here",
        )
        for queue in report
    ]
    headers = ["queue", "workflow backlog", "step backlog", "oldest", "pollers", "workers"]
    print(table(headers, rows))
    return 0
