"""``flowat report RUN [-o OUT.ipynb]``: a run as an executed notebook."""

from __future__ import annotations

import argparse
import sys

from flowat_kernel.cli.output import print_json

__all__ = ["cmd_report"]


def cmd_report(args: argparse.Namespace) -> int:
    """Write the run's report notebook; print where it went."""
    from flowat_kernel import api

    path = args.output or f"{args.run_id}.ipynb"
    notebook = api.report(args.run_id, path)
    flowat = notebook.metadata["flowat"]
    if args.json:
        print_json({"path": path, **{k: flowat[k] for k in ("workflow", "version", "run_id")}})
    else:
        sys.stderr.write(
            f"{flowat['workflow']} v{flowat['version']} run {flowat['run_id']} "
            f"({flowat['status']}): report written to {path}\n"
        )
        print(path)
    return 0
