"""Deleting runs' events from the analytics store, and finding which runs have events.

Events live in Parquet files by day (``events/day=*/``), which writers only ever add.
Deleting a run's events rewrites each file that holds some of them without those rows
(to a temporary name, then renamed over it, so a reader sees the old file or the new
one, never half of one) and removes a file left empty. This process's pending events
are flushed and spools of processes that died are converted first. Events still in a
live process's spool (at most a couple of seconds' worth) become Parquet later; the
retention pass finds them through the deleted runs the store remembers.

Rewrites hold a lock file in the analytics folder, so two deleters never rewrite one
file at the same time.

With the store on PostgreSQL, the runs' shared events (rows and compacted segments,
every host's) are removed too (:mod:`flowat_kernel.analytics.shared_compaction`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Collection
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from flowat_kernel.analytics.events import SCHEMA
from flowat_kernel.analytics.shared_compaction import delete_shared_runs, shared_run_ids
from flowat_kernel.analytics.shared_store import SharedEvents, shared_events
from flowat_kernel.analytics.writer import flush_writers, recover_orphans
from flowat_kernel.fslock import locked

__all__ = ["delete_run_events", "event_run_ids"]


def _files(folder: Path) -> list[Path]:
    events = folder / "events"
    return sorted(events.glob("day=*/*.parquet")) if events.exists() else []


def _prepare(folder: Path, database_url: str | None) -> SharedEvents | None:
    flush_writers(folder)
    shared = shared_events(database_url)
    recover_orphans(folder, shared)
    return shared


def event_run_ids(folder: Path, *, database_url: str | None = None) -> set[str]:
    """Every run id that has events in the analytics folder's Parquet files.

    With the store on PostgreSQL (``database_url``, default ``FLOWAT_DATABASE_URL``),
    the run ids of the shared events too.
    """
    shared = _prepare(folder, database_url)
    found: set[str] = shared_run_ids(shared) if shared is not None else set()
    for path in _files(folder):
        try:
            column = pq.read_table(path, columns=["run_id"])["run_id"]
        except FileNotFoundError:  # compacted or rewritten meanwhile
            continue
        found.update(v for v in pc.unique(column).to_pylist() if v)
    return found


def delete_run_events(
    folder: Path, run_ids: Collection[str], *, database_url: str | None = None
) -> int:
    """Remove every event of the runs ``run_ids``; returns how many events went.

    With the store on PostgreSQL (``database_url``, default ``FLOWAT_DATABASE_URL``),
    their shared events go too. Idempotent: a second call finds nothing to remove.
    """
    if not run_ids:
        return 0
    shared = _prepare(folder, database_url)
    wanted = pa.array(sorted(set(run_ids)), type=pa.string())
    removed = delete_shared_runs(shared, run_ids) if shared is not None else 0
    with locked(folder / ".deletion.lock", folder_mode=0o700):
        for path in _files(folder):
            try:
                ids = pq.read_table(path, columns=["run_id"])["run_id"]
            except FileNotFoundError:
                continue
            hit = pc.fill_null(pc.is_in(ids, value_set=wanted), False)
            count = pc.sum(hit).as_py() or 0
            if not count:
                continue
            table = pq.read_table(path, schema=SCHEMA)
            kept = table.filter(pc.invert(hit))
            if kept.num_rows == 0:
                path.unlink(missing_ok=True)
            else:
                temporary = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.parquet.tmp")
                pq.write_table(kept, temporary, compression="zstd")
                os.chmod(temporary, 0o600)
                os.replace(temporary, path)
            removed += int(count)
    return removed
