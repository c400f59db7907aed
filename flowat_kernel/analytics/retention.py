"""Retention: compact a day's small Parquet files into one, and expire days past a period.

Writers only ever add files; compaction writes the merged file under a new name first,
then removes the small ones, so a reader sees each event once or (for an instant) the
merged file beside parts it replaces, never none. Run it while nothing queries, or
accept that instant: ``flowat analytics compact``.

With the store on PostgreSQL, the shared events are compacted and expired too
(:mod:`flowat_kernel.analytics.shared_compaction`), in one transaction.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from flowat_kernel.analytics.events import SCHEMA
from flowat_kernel.analytics.shared_compaction import compact_shared
from flowat_kernel.analytics.shared_store import shared_events
from flowat_kernel.analytics.writer import flush_writers, recover_orphans
from flowat_kernel.errors import FlowAtError

__all__ = ["CompactionReport", "compact"]


@dataclass(frozen=True)
class CompactionReport:
    """What a compaction did."""

    days_compacted: int
    files_before: int
    files_after: int
    days_expired: int
    events: int

    def as_dict(self) -> dict[str, int]:
        """JSON-able form."""
        return dict(vars(self))


def _day(folder: Path) -> date | None:
    try:
        return date.fromisoformat(folder.name.removeprefix("day="))
    except ValueError:
        return None


def compact(
    folder: Path | None = None,
    retention_days: int | None = None,
    today: date | None = None,
    *,
    database_url: str | None = None,
) -> CompactionReport:
    """Merge each day's files into one; delete days older than ``retention_days``.

    With the store on PostgreSQL, the shared events' recent rows become day segments
    and expired days go there too; the report then counts segments as files.

    Args:
        folder: the analytics folder (default: ``FLOWAT_HOME/analytics``); this
            process's pending events in it are flushed first.
        retention_days: keep this many days (``None``: keep everything).
        today: the reference day (tests).
        database_url: the store (default: ``FLOWAT_DATABASE_URL``).

    Raises:
        FlowAtError: ``retention_days`` is less than 1.

    """
    if folder is None:
        from flowat_kernel.analytics.views import analytics_folder

        folder = analytics_folder()
    flush_writers(folder)
    if retention_days is not None and retention_days < 1:
        raise FlowAtError(
            f"retention_days (--retention-days) must be at least 1, not {retention_days}: "
            "it counts the days kept, today included; leave it out to keep every day"
        )
    shared = shared_events(database_url)
    recover_orphans(folder, shared)
    today = today or datetime.now(UTC).date()
    days = sorted((folder / "events").glob("day=*")) if (folder / "events").exists() else []
    compacted = before = after = expired = events = 0
    for day_folder in days:
        day = _day(day_folder)
        if day is None:
            continue
        if retention_days is not None and day < today - timedelta(days=retention_days - 1):
            shutil.rmtree(day_folder)
            expired += 1
            continue
        files = sorted(day_folder.glob("*.parquet"))
        before += len(files)
        if len(files) <= 1:
            after += len(files)
            continue
        table = pa.concat_tables(pq.read_table(f, schema=SCHEMA) for f in files)
        target = day_folder / f"compacted-{uuid.uuid4().hex[:12]}.parquet"
        temporary = target.with_suffix(".parquet.tmp")
        pq.write_table(table.sort_by("ts"), temporary, compression="zstd")
        temporary.chmod(0o600)
        temporary.replace(target)
        for old in files:
            old.unlink()
        compacted += 1
        after += 1
        events += table.num_rows
    if shared is not None:
        done = compact_shared(shared, retention_days=retention_days, today=today)
        if done is not None:
            compacted += 1 if done.events_moved else 0
            before += done.segments_before
            after += done.segments_after
            expired += done.days_expired
            events += done.events_moved
    return CompactionReport(compacted, before, after, expired, events)
