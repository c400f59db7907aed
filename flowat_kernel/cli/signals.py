"""``flowat signal RUN NAME``: deliver a signal (an approval, say) to a waiting run."""

from __future__ import annotations

import argparse

from flowat_kernel.cli.output import print_json
from flowat_kernel.commands import signal_payload

__all__ = ["cmd_signal"]


def cmd_signal(args: argparse.Namespace) -> int:
    """``flowat signal RUN NAME [-p key=value ... | --data JSON]``."""
    from flowat_kernel import api

    payload = signal_payload(args.data, args.param)
    run = api.signal(args.run_id, args.name, payload)
    if args.json:
        print_json({"run_id": run.run_id, "signal": args.name, "status": run.status})
    else:
        print(f"run {run.run_id}: signal {args.name!r} sent ({run.status})")
    return 0
