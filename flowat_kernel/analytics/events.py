"""The event schema: one flat row per thing that happened to a run, a step or an action.

Rows are plain dicts with the columns of :data:`SCHEMA` (missing ones are null), so that
every writer, every file and every view agree on one table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

__all__ = ["EVENTS", "SCHEMA", "event"]

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

SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("us", tz="UTC")),
        ("event", pa.string()),
        ("run_id", pa.string()),
        ("workflow", pa.string()),
        ("version", pa.int32()),
        ("owner", pa.string()),
        ("trigger", pa.string()),
        ("status", pa.string()),
        ("step", pa.string()),
        ("attempt", pa.int32()),
        ("duration_ms", pa.float64()),
        ("bytes_in", pa.int64()),
        ("bytes_out", pa.int64()),
        ("error_type", pa.string()),
        ("error", pa.string()),
        ("connector", pa.string()),
        ("action", pa.string()),
        ("host", pa.string()),
        ("model", pa.string()),
        ("tokens_in", pa.int64()),
        ("tokens_out", pa.int64()),
        ("cost_usd", pa.float64()),
        ("scheduled_at", pa.timestamp("us", tz="UTC")),
    ]
)

_COLUMNS = frozenset(SCHEMA.names)


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
