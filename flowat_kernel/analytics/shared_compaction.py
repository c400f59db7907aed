"""Shared analytics upkeep: compaction into Parquet segments, expiry, deleting runs' events.

Each of these runs in one transaction on the shared database, under an advisory lock
that serialises them across hosts, and bumps the ``generation`` so every process's
cache reads afresh. A reader's snapshot (``REPEATABLE READ``) therefore sees the rows
before or the segments after a compaction, never both and never neither.

- **Compaction** moves the recent rows (``analytics_events``) into zstd Parquet
  segments, one per UTC day, merged with that day's small segments (under
  :data:`MERGE_BELOW` events), so a new process reads a few segments instead of many
  rows. A long-lived writer starts one by itself when :data:`AUTO_COMPACT_ROWS` rows
  have piled up (whichever host gets the lock); ``flowat analytics compact`` runs one
  at once.
- **Expiry** (``--retention-days``) drops the segments and rows of days before the
  period.
- **Deletion** removes runs' rows and rewrites each segment that holds some of their
  events without them.

After a compaction or expiry removed rows, ``analytics_events`` is vacuumed at once:
until its dead rows are reclaimed, every reader's refresh (``id > N``) scans them
(about 25 ms per query over 1.2 million moved rows, measured), and autovacuum may come
late or be off.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from flowat_kernel.analytics.shared_store import (
    MAINTENANCE_LOCK,
    SharedEvents,
    parquet_table,
    read_rows,
)

if TYPE_CHECKING:
    from collections.abc import Collection

    import pyarrow as pa
    from sqlalchemy import Connection

__all__ = [
    "AUTO_COMPACT_ROWS",
    "MERGE_BELOW",
    "SharedCompaction",
    "compact_shared",
    "delete_shared_runs",
    "maybe_compact",
    "shared_run_ids",
]

_log = logging.getLogger(__name__)

#: Recent rows that make a long-lived writer compact by itself.
AUTO_COMPACT_ROWS = 100_000
#: A day's segments with fewer events than this are merged with new rows.
MERGE_BELOW = 250_000
#: Days a sent spool's name is remembered (a spool resent later would count twice).
BATCH_MEMORY_DAYS = 30


@dataclass(frozen=True)
class SharedCompaction:
    """What a shared compaction did."""

    events_moved: int
    segments_before: int
    segments_after: int
    days_expired: int
    events_expired: int


def _parquet(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table.sort_by("ts"), buffer, compression="zstd")
    return buffer.getvalue()


def _bump(conn: Connection) -> None:
    conn.execute(sa.text("UPDATE analytics_state SET value = value + 1 WHERE key = 'generation'"))


def _lock(conn: Connection, wait: bool) -> bool:
    if wait:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MAINTENANCE_LOCK})
        return True
    return bool(
        conn.execute(
            sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": MAINTENANCE_LOCK}
        ).scalar()
    )


def _insert_segment(conn: Connection, day: date, table: pa.Table) -> None:
    conn.execute(
        sa.text("INSERT INTO analytics_segments (day, events, data) VALUES (:d, :n, :data)"),
        {"d": day, "n": table.num_rows, "data": _parquet(table)},
    )


def _days(table: pa.Table) -> dict[date, pa.Table]:
    import pyarrow.compute as pc

    days = pc.strftime(table["ts"], format="%Y-%m-%d")
    found = {}
    for day in pc.unique(days).to_pylist():
        found[date.fromisoformat(day)] = table.filter(pc.equal(days, day))
    return found


def compact_shared(
    shared: SharedEvents,
    *,
    retention_days: int | None = None,
    today: date | None = None,
    wait: bool = True,
) -> SharedCompaction | None:
    """Move the recent rows into day segments; expire days past ``retention_days``.

    Args:
        shared: the shared events.
        retention_days: keep this many days, today included (``None``: all).
        today: the reference day (tests).
        wait: wait for another host's upkeep to finish; else return None at once.

    """
    import pyarrow as pa

    with shared.transaction() as conn:
        if not _lock(conn, wait):
            return None
        expired_days = expired_events = 0
        if retention_days is not None:
            today = today or datetime.now(UTC).date()
            cutoff = today - timedelta(days=retention_days - 1)
            expired_days = len(
                conn.execute(
                    sa.text("DELETE FROM analytics_segments WHERE day < :c RETURNING day"),
                    {"c": cutoff},
                )
                .scalars()
                .unique()
                .all()
            )
            expired_events = conn.execute(
                sa.text("DELETE FROM analytics_events WHERE ts < :c"),
                {"c": datetime.combine(cutoff, datetime.min.time(), UTC)},
            ).rowcount
        before = conn.execute(sa.text("SELECT count(*) FROM analytics_segments")).scalar_one()
        rows = read_rows(conn)
        moved = int(rows.num_rows)
        if moved:
            last_id = rows["id"][-1].as_py()
            rows = rows.drop_columns(["id"])
            for day, table in _days(rows).items():
                small = conn.execute(
                    sa.text(
                        "DELETE FROM analytics_segments WHERE day = :d AND events < :m "
                        "RETURNING data"
                    ),
                    {"d": day, "m": MERGE_BELOW},
                ).scalars()
                merged = pa.concat_tables([*(parquet_table(bytes(d)) for d in small), table])
                _insert_segment(conn, day, merged)
            conn.execute(sa.text("DELETE FROM analytics_events WHERE id <= :i"), {"i": last_id})
        conn.execute(
            sa.text("DELETE FROM analytics_batches WHERE at < :c"),
            {"c": datetime.now(UTC) - timedelta(days=BATCH_MEMORY_DAYS)},
        )
        after = conn.execute(sa.text("SELECT count(*) FROM analytics_segments")).scalar_one()
        if moved or expired_days or expired_events:
            _bump(conn)
    if moved or expired_events:
        _vacuum(shared)
    return SharedCompaction(moved, int(before), int(after), expired_days, int(expired_events))


def _vacuum(shared: SharedEvents) -> None:
    """Reclaim ``analytics_events``' dead rows now (the compaction has committed)."""
    try:
        with shared.engine.connect() as base:
            conn = base.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(sa.text("VACUUM (ANALYZE) analytics_events"))
    except sa.exc.DBAPIError as exc:  # the compaction stands; autovacuum does it later
        _log.warning("analytics_events was not vacuumed after compaction: %s", exc.orig)


def maybe_compact(shared: SharedEvents) -> SharedCompaction | None:
    """Compact if :data:`AUTO_COMPACT_ROWS` recent rows piled up and no one else is at it."""
    with shared.transaction() as conn:
        span = conn.execute(
            sa.text("SELECT coalesce(max(id) - min(id) + 1, 0) FROM analytics_events")
        ).scalar_one()
    if span < AUTO_COMPACT_ROWS:
        return None
    return compact_shared(shared, wait=False)


def delete_shared_runs(shared: SharedEvents, run_ids: Collection[str]) -> int:
    """Remove every shared event of the runs ``run_ids``; how many went (idempotent)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not run_ids:
        return 0
    wanted = sorted(set(run_ids))
    value_set = pa.array(wanted, type=pa.string())
    with shared.transaction() as conn:
        _lock(conn, wait=True)
        removed = conn.execute(
            sa.text("DELETE FROM analytics_events WHERE run_id = ANY(:ids)"), {"ids": wanted}
        ).rowcount
        segments = conn.execute(sa.text("SELECT id, day, data FROM analytics_segments"))
        for segment_id, day, data in segments.all():
            table = parquet_table(bytes(data))
            hit = pc.fill_null(pc.is_in(table["run_id"], value_set=value_set), False)
            count = pc.sum(hit).as_py() or 0
            if not count:
                continue
            conn.execute(sa.text("DELETE FROM analytics_segments WHERE id = :i"), {"i": segment_id})
            kept = table.filter(pc.invert(hit))
            if kept.num_rows:
                _insert_segment(conn, day, kept)
            removed += int(count)
        if removed:
            _bump(conn)
    return int(removed)


def shared_run_ids(shared: SharedEvents) -> set[str]:
    """Every run id that has shared events (rows or segments)."""
    import pyarrow.compute as pc

    found: set[str] = set()
    with shared.transaction() as conn:
        found.update(
            conn.execute(
                sa.text("SELECT DISTINCT run_id FROM analytics_events WHERE run_id IS NOT NULL")
            ).scalars()
        )
        for (data,) in conn.execute(sa.text("SELECT data FROM analytics_segments")):
            column: Any = parquet_table(bytes(data))["run_id"]
            found.update(v for v in pc.unique(column).to_pylist() if v)
    return found
