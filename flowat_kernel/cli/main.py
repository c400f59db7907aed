"""``flowat``: the command line. Every command takes ``--json`` for scripts.

The commands are declared once in :mod:`flowat_kernel.commands` (shared with the
``%flowat`` magic); this module builds the parser from them, runs the chosen handler
(imported only then) and turns errors into exit codes: 0 ok, 1 a failure (a failed run
included), 2 a usage or input error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every ``flowat`` command (imports no handler)."""
    from flowat_kernel.commands import build_cli_parser

    return build_cli_parser()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 failure or failed run, 2 usage error)."""
    from flowat_kernel.commands import handler
    from flowat_kernel.errors import FlowAtError, exit_code

    args = build_parser().parse_args(argv)
    if argv is None:  # a real ``flowat`` process: its own output is masked too
        from flowat_kernel.vault.redaction import install_logging_redaction, mask_standard_streams

        install_logging_redaction()
        mask_standard_streams()
    try:
        return int(handler(args.flowat_command.cli)(args))
    except FlowAtError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"error": {"type": type(exc).__name__, "message": str(exc)}}))
        print(f"flowat: error: {exc}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt as interrupt:
        print("flowat: interrupted", file=sys.stderr)
        return exit_code(interrupt)
    finally:
        if "flowat_kernel.runtime" in sys.modules:  # nothing to close when nothing started
            from flowat_kernel.runtime import reset_runtime

            reset_runtime()


if __name__ == "__main__":
    sys.exit(main())
