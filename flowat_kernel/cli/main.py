"""``flowat``: the command line. Every command takes ``--json`` for scripts."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from flowat_kernel.errors import FlowAtError, RunFailed

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every ``flowat`` command."""
    from flowat_kernel.cli import commands as c

    parser = argparse.ArgumentParser(
        prog="flowat", description="FlowAt: notebook cells as durable workflows on Temporal."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def worker_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--no-wait", action="store_true", help="start the run and return")
        p.add_argument(
            "--worker",
            choices=["auto", "always", "never"],
            default="auto",
            help="auto: run an in-process worker when none polls the task queue (default)",
        )

    def command(name: str, handler: object, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument(
            "--json", action="store_true", help="print one JSON document on standard output"
        )
        p.set_defaults(handler=handler)
        return p

    p = command("publish", c.cmd_publish, "compile a notebook file into a new workflow version")
    p.add_argument("notebook", help="path of the .ipynb file")
    p.add_argument("--name", required=True, help="workflow name")

    p = command("run", c.cmd_run, "run a workflow version and wait for it")
    p.add_argument("workflow", nargs="?")
    p.add_argument("--notebook", help="publish this .ipynb first (when changed), then run it")
    p.add_argument(
        "-p", "--param", action="append", metavar="KEY=VALUE", help="a parameter (repeatable)"
    )
    p.add_argument("--version", type=int, help="version number (default: latest)")
    p.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="end the run as timed_out after this"
    )
    worker_options(p)

    p = command("rerun", c.cmd_rerun, "re-run a run from the steps that did not succeed")
    p.add_argument("run_id")
    p.add_argument(
        "--version",
        default="same",
        help="'same' (default), 'latest', or a version number, e.g. after fixing a step",
    )
    worker_options(p)

    p = command("cancel", c.cmd_cancel, "cancel a running run and wait until it has stopped")
    p.add_argument("run_id")
    p.add_argument(
        "--wait", type=float, default=120.0, metavar="SECONDS", help="how long to wait (120)"
    )

    p = command("versions", c.cmd_versions, "list a workflow's versions")
    p.add_argument("workflow")

    p = command("runs", c.cmd_runs, "list recent runs")
    p.add_argument("workflow", nargs="?")
    p.add_argument("--limit", type=int, default=20)

    command("worker", c.cmd_worker, "run a long-lived worker for the task queue")
    command("dev", c.cmd_dev, "embedded stack: Temporal dev server, a worker, the REST API")

    p = command("server", c.cmd_server, "manage the embedded Temporal dev server")
    p.add_argument("action", choices=["status", "start", "stop"])

    command("schema", c.cmd_schema, "print the JSON schema of a workflow spec")
    command("connectors", c.cmd_connectors, "list installed connectors and their actions")

    p = command("history", c.cmd_history, "a run's Temporal history, decrypted and masked")
    p.add_argument("run_id")

    from flowat_kernel.cli.reports import add_report_parser

    add_report_parser(sub)
    from flowat_kernel.cli.secrets import add_secrets_parser

    add_secrets_parser(sub)
    from flowat_kernel.cli.dlq import add_dlq_parser

    add_dlq_parser(sub)
    from flowat_kernel.cli.analytics import add_analytics_parser

    add_analytics_parser(sub)
    from flowat_kernel.cli.signals import add_signal_parser

    add_signal_parser(sub)
    from flowat_kernel.cli.access import add_access_parsers
    from flowat_kernel.cli.schedules import add_trigger_parsers
    from flowat_kernel.cli.serve import add_serve_parser

    add_serve_parser(sub)
    add_access_parsers(sub)
    add_trigger_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 run failed, 2 error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if argv is None:  # a real ``flowat`` process: its own output is masked too
        from flowat_kernel.vault.redaction import install_logging_redaction, mask_standard_streams

        install_logging_redaction()
        mask_standard_streams()
    try:
        return int(args.handler(args))
    except RunFailed as exc:
        print(f"flowat: {exc}", file=sys.stderr)
        return 1
    except FlowAtError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"error": {"type": type(exc).__name__, "message": str(exc)}}))
        print(f"flowat: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("flowat: interrupted", file=sys.stderr)
        return 130
    finally:
        from flowat_kernel.runtime import reset_runtime

        reset_runtime()


if __name__ == "__main__":
    sys.exit(main())
