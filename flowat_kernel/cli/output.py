"""Printing for the CLI: tables, JSON documents and live progress (on standard error)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from flowat_kernel.store import RunRecord
    from flowat_kernel.workspace.published import Published

__all__ = ["ProgressPrinter", "print_json", "published_document", "table"]


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def print_json(document: Any, stream: TextIO | None = None) -> None:
    """Write ``document`` as JSON followed by a newline."""
    (stream or sys.stdout).write(json.dumps(document, indent=2, default=_default) + "\n")


def published_document(published: Published) -> dict[str, Any]:
    """What ``flowat publish --json`` prints about a published (or unchanged) version."""
    return {
        "workflow": published.version.workflow,
        "version": published.number,
        "created": published.created,
        "spec_hash": published.version.spec_hash,
        "steps": [s.name for s in published.version.spec.steps],
    }


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
