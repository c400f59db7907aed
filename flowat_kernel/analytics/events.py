"""The event schema: one flat row per thing that happened to a run, a step or an action.

Rows are plain dicts with the columns of :data:`COLUMNS` (missing ones are null; as an
Arrow schema: :data:`SCHEMA`), so that every writer, every file and every view agree on
one table.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    #: The Arrow schema of the event table (built on first use).
    SCHEMA: pa.Schema

__all__ = ["COLUMNS", "EVENTS", "SCHEMA", "event"]

#: What ``event`` can be.
EVENTS = frozenset(
    {
        "run_queued",
        "run_started",
        "run_finished",
        "step_started",
        "step_retried",
        "step_succeeded",
        "step_failed",
        "step_skipped",
        "step_cancelled",
        "action",
        "breaker_opened",
        "dead_lettered",
    }
)

#: The columns, in order, with their Arrow types (``pyarrow`` type factory names).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("ts", "timestamp"),
    ("event", "string"),
    ("run_id", "string"),
    ("workflow", "string"),
    ("version", "int32"),
    ("owner", "string"),
    ("trigger", "string"),
    ("status", "string"),
    ("step", "string"),
    ("attempt", "int32"),
    ("duration_ms", "float64"),
    ("bytes_in", "int64"),
    ("bytes_out", "int64"),
    ("error_type", "string"),
    ("error", "string"),
    ("connector", "string"),
    ("action", "string"),
    ("host", "string"),
    ("model", "string"),
    ("tokens_in", "int64"),
    ("tokens_out", "int64"),
    ("cost_usd", "float64"),
    ("scheduled_at", "timestamp"),
)

_COLUMNS = frozenset(name for name, _ in COLUMNS)


@functools.cache
def _schema() -> pa.Schema:
    import pyarrow as pa

    def arrow(kind: str) -> pa.DataType:
        return pa.timestamp("us", tz="UTC") if kind == "timestamp" else getattr(pa, kind)()

    return pa.schema([(name, arrow(kind)) for name, kind in COLUMNS])


def __getattr__(name: str) -> Any:
    # ``SCHEMA``, the Arrow schema, is built on first use: emitting an event needs only
    # the column names, and importing pyarrow (with numpy) costs a short-lived process
    # such as ``flowat run`` 0.1 to 0.2 s.
    if name == "SCHEMA":
        return _schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def event(kind: str, **fields: Any) -> dict[str, Any]:
    """One event row, stamped now (``ts`` may be given); unknown fields are an error."""
    if kind not in EVENTS:
        raise ValueError(f"unknown analytics event {kind!r}")
    unknown = set(fields) - _COLUMNS
    if unknown:
        raise ValueError(f"unknown analytics fields {sorted(unknown)}")
    row: dict[str, Any] = {"event": kind, **fields}
    ts = row.get("ts") or datetime.now(UTC)
    row["ts"] = ts.isoformat() if isinstance(ts, datetime) else ts
    scheduled = row.get("scheduled_at")
    if isinstance(scheduled, datetime):
        row["scheduled_at"] = scheduled.isoformat()
    return row
