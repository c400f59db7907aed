"""Printing for the CLI: tables, JSON documents and live progress (on standard error)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TextIO

from flowat_kernel.store import RunRecord, VersionRecord

__all__ = [
    "ProgressPrinter",
    "action_group",
    "print_json",
    "run_rows",
    "table",
    "version_rows",
]


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def print_json(document: Any, stream: TextIO | None = None) -> None:
    """Write ``document`` as JSON followed by a newline."""
    (stream or sys.stdout).write(json.dumps(document, indent=2, default=_default) + "\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table with left-aligned columns."""
    cells = [
        [str(h) for h in headers],
        *[["" if v is None else str(v) for v in row] for row in rows],
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""


def version_rows(records: Sequence[VersionRecord]) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows for ``flowat versions``."""
    headers = ["version", "created", "by", "steps", "hash"]
    return headers, [
        [v.number, _when(v.created_at), v.created_by, len(v.spec.steps), v.spec_hash[:19]]
        for v in records
    ]


def run_rows(records: Sequence[RunRecord]) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows for ``flowat runs``."""
    headers = ["run", "workflow", "version", "status", "trigger", "created", "duration"]
    rows = []
    for r in records:
        duration = f"{r.duration_seconds:.2f}s" if r.duration_seconds is not None else ""
        rows.append(
            [r.run_id, r.workflow, r.version, r.status, r.trigger, _when(r.created_at), duration]
        )
    return headers, rows


class ProgressPrinter:
    """Prints a line whenever a step changes state (to standard error by default)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._seen: dict[str, tuple[str, int]] = {}

    def __call__(self, record: RunRecord) -> None:
        """Print the steps whose state changed since the last call."""
        for step in record.steps:
            state = (step.status, step.attempts)
            if self._seen.get(step.name) == state or step.status == "pending":
                continue
            self._seen[step.name] = state
            detail = ""
            if step.status in ("running", "retrying"):
                detail = f" (attempt {step.attempts})"
            elif step.duration_seconds is not None:
                detail = f" in {step.duration_seconds:.2f}s"
            if step.error and step.status in ("failed", "retrying"):
                detail += f": {step.error.get('type')}: {step.error.get('message')}"
            self.stream.write(f"  {step.name}: {step.status}{detail}\n")
            self.stream.flush()


def action_group(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    help: str,
    description: str,
) -> Callable[[str, object, str], argparse.ArgumentParser]:
    """Add ``flowat NAME ACTION ...``; returns ``action(name, handler, help)`` to add each.

    Every action takes ``--json``.
    """
    parser = sub.add_parser(name, help=help, description=description)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(action_name: str, handler: object, action_help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = actions.add_parser(
            action_name, help=action_help, description=action_help
        )
        p.add_argument("--json", action="store_true", help="print one JSON document")
        p.set_defaults(handler=handler)
        return p

    return action
