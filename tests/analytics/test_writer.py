"""The event writer and retention, on real files and real processes.

Crashes are real: a subprocess emits events and dies with ``os._exit`` before any
flush; concurrency is two real processes appending to the same folder. Every test uses
its own analytics folder (``tmp_path``), read back through :func:`views.connect`.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from flowat_kernel.analytics import views
from flowat_kernel.analytics.events import event
from flowat_kernel.analytics.retention import compact
from flowat_kernel.analytics.writer import EventWriter
from flowat_kernel.errors import FlowAtError
from flowat_kernel.vault.redaction import register

# A process that emits events, then either dies at once (no flush, no close: what a
# killed worker does) or closes its writer and exits normally.
EMITTER = """
import os, sys, time
from pathlib import Path
from flowat_kernel.analytics.events import event
from flowat_kernel.analytics.writer import EventWriter

folder, tag, count, mode = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
go = Path(sys.argv[5]) if len(sys.argv) > 5 else None
if mode == "crash":
    writer = EventWriter(folder, flush_events=10**9, flush_seconds=3600)
else:
    writer = EventWriter(folder, flush_events=97, flush_seconds=0.01)
while go is not None and not go.exists():
    time.sleep(0.005)
sent = 0
while sent < count:
    batch = min(1 + sent % 7, count - sent)  # single events and batches, mixed
    rows = [event("action", run_id=f"{tag}-{sent + i}", connector=tag, attempt=sent + i)
            for i in range(batch)]
    if batch == 1:
        writer.emit(rows[0])
    else:
        writer.emit_many(rows)
    sent += batch
if mode == "crash":
    os._exit(9)
writer.close()
"""


def emitter(folder: Path, tag: str, count: int, mode: str, go: Path | None = None) -> list[str]:
    """The command line of one emitting process."""
    args = [sys.executable, "-c", EMITTER, str(folder), tag, str(count), mode]
    return args + ([str(go)] if go is not None else [])


def crash_after_emitting(folder: Path, tag: str, count: int) -> None:
    """Run a process that emits ``count`` events and is killed before flushing."""
    done = subprocess.run(emitter(folder, tag, count, "crash"), capture_output=True, timeout=120)
    assert done.returncode == 9, done.stderr.decode()


def events(folder: Path, where: str = "true") -> list[dict[str, Any]]:
    """Every event of ``folder`` (Parquet and spools, orphans recovered first)."""
    relation = views.connect(folder).sql(f"SELECT * FROM events WHERE {where}")
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def spools(folder: Path) -> list[Path]:
    return sorted((folder / "spool").glob("*.jsonl"))


def parquet_files(folder: Path) -> list[Path]:
    return sorted((folder / "events").glob("day=*/*.parquet"))


def until(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    """Wait for ``condition`` (a background thread's work), failing after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[EventWriter]:
    """A writer of this process that never flushes on its own."""
    writer = EventWriter(tmp_path / "analytics", flush_events=10**9, flush_seconds=3600)
    yield writer
    writer.close()


# -- crashes ---------------------------------------------------------------------------


def test_a_crash_between_buffering_and_flushing_loses_no_event(tmp_path: Path) -> None:
    folder = tmp_path / "analytics"
    crash_after_emitting(folder, "crashed", 5000)
    # Nothing was flushed: everything is in the dead process's spool file.
    assert parquet_files(folder) == []
    [orphan] = spools(folder)
    assert len(orphan.read_bytes().splitlines()) == 5000

    found = events(folder)  # the first query recovers the orphan
    assert len(found) == 5000
    assert sorted(e["run_id"] for e in found) == sorted(f"crashed-{i}" for i in range(5000))
    assert {e["attempt"] for e in found} == set(range(5000))
    assert spools(folder) == []
    today = datetime.now(UTC).date()
    days = {p.parent.name for p in parquet_files(folder)}
    assert days <= {f"day={today}", f"day={today - timedelta(days=1)}"}  # near midnight
    # Recovering is done once: a second reader sees each event once.
    assert len(events(folder)) == 5000


def test_a_torn_last_line_is_skipped_and_the_rest_kept(tmp_path: Path) -> None:
    folder = tmp_path / "analytics"
    crash_after_emitting(folder, "torn", 500)
    [orphan] = spools(folder)
    with open(orphan, "ab") as handle:  # the write the crash interrupted
        handle.write(b'{"event":"action","run_id":"torn-partial","ts":"2026-0')
    found = events(folder)
    assert sorted(e["run_id"] for e in found) == sorted(f"torn-{i}" for i in range(500))
    assert spools(folder) == []


def test_a_new_writer_recovers_what_a_dead_process_left(tmp_path: Path) -> None:
    folder = tmp_path / "analytics"
    crash_after_emitting(folder, "orphan", 300)
    writer = EventWriter(folder, flush_events=10**9, flush_seconds=3600)
    try:
        until(lambda: len(spools(folder)) == 1, "the new writer to convert the orphan")
        assert spools(folder) == [writer._path]  # only the live writer's own spool is left
        table = pq.read_table(parquet_files(folder))
        assert table.num_rows == 300
    finally:
        writer.close()


# -- concurrency, live reads ------------------------------------------------------------


def test_two_processes_writing_at_once_lose_and_repeat_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "analytics"
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(emitter(folder, tag, 2000, "normal", go), stderr=subprocess.PIPE)
        for tag in ("first", "second")
    ]
    time.sleep(0.5)  # both are importing; release them together
    go.touch()
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr.decode()
    assert spools(folder) == []  # each flushed and closed its own
    assert list(folder.rglob("*.tmp")) == []  # no flush was cut off by the exit
    writers = {p.name.split("-")[1] for p in parquet_files(folder)}
    assert writers == {str(p.pid) for p in processes}
    assert len(parquet_files(folder)) > 2  # they flushed many times, interleaved
    found = events(folder)
    assert len(found) == 4000
    expected = {f"{tag}-{i}" for tag in ("first", "second") for i in range(2000)}
    assert {e["run_id"] for e in found} == expected


def test_queries_see_events_not_flushed_yet(writer: EventWriter) -> None:
    writer.emit_many([event("run_queued", run_id=f"live-{i}", workflow="live") for i in range(3)])
    assert parquet_files(writer.folder) == []
    assert sorted(e["run_id"] for e in events(writer.folder)) == ["live-0", "live-1", "live-2"]
    assert spools(writer.folder) == [writer._path]  # a live process's spool is left alone
    writer.flush()
    assert len(events(writer.folder)) == 3
    assert pq.read_table(parquet_files(writer.folder)).num_rows == 3


# -- flushing -----------------------------------------------------------------------------


def _rows_in_parquet(folder: Path) -> int:
    files = parquet_files(folder)
    return pq.read_table(files).num_rows if files else 0


def test_flush_by_size(tmp_path: Path) -> None:
    folder = tmp_path / "analytics"
    writer = EventWriter(folder, flush_events=50, flush_seconds=3600)
    try:
        for i in range(49):
            writer.emit(event("action", run_id=f"size-{i}"))
        time.sleep(0.3)
        assert parquet_files(folder) == []  # below the size, and the time is far off
        for i in range(49, 120):
            writer.emit(event("action", run_id=f"size-{i}"))
        until(lambda: _rows_in_parquet(folder) >= 50, "a flush by size")
        assert {e["run_id"] for e in events(folder)} == {f"size-{i}" for i in range(120)}
    finally:
        writer.close()
    assert spools(folder) == []
    assert _rows_in_parquet(folder) == 120


def test_flush_by_time(tmp_path: Path) -> None:
    folder = tmp_path / "analytics"
    writer = EventWriter(folder, flush_events=10**9, flush_seconds=0.1)
    try:
        writer.emit_many([event("action", run_id=f"time-{i}") for i in range(3)])
        until(lambda: _rows_in_parquet(folder) == 3, "a flush by time")
        assert [p.stat().st_size for p in spools(folder)] == [0]  # a fresh, empty spool
    finally:
        writer.close()
    assert spools(folder) == []


def test_close_waits_for_a_background_flush_in_progress(tmp_path: Path) -> None:
    """After ``close`` nothing is left to convert, even if the thread was mid-flush."""
    for round_ in range(20):
        folder = tmp_path / f"round-{round_}"
        writer = EventWriter(folder, flush_events=40, flush_seconds=0.001)
        for batch in range(10):
            writer.emit_many([event("action", run_id=f"{batch}-{i}") for i in range(30)])
        writer.close()
        assert spools(folder) == [] and list(folder.rglob("*.tmp")) == [], round_
        assert _rows_in_parquet(folder) == 300


def test_parquet_files_are_written_per_utc_day(writer: EventWriter) -> None:
    days = [datetime(2030, 1, d, 23, 59, 59, tzinfo=UTC) for d in (1, 2, 2, 3)]
    writer.emit_many([event("action", run_id=f"d{i}", ts=ts) for i, ts in enumerate(days)])
    writer.flush()
    counts = {p.parent.name: pq.read_table(p).num_rows for p in parquet_files(writer.folder)}
    assert counts == {"day=2030-01-01": 1, "day=2030-01-02": 2, "day=2030-01-03": 1}
    found = {e["run_id"]: e["ts"] for e in events(writer.folder)}
    assert found == {f"d{i}": ts for i, ts in enumerate(days)}


# -- masking ------------------------------------------------------------------------------


def test_registered_secret_values_are_stored_masked(writer: EventWriter) -> None:
    name = f"analytics_{uuid.uuid4().hex[:6]}"
    value = f"sk-{uuid.uuid4().hex}"
    register(name, value)
    writer.emit(event("step_failed", run_id="masked", error=f"refused token {value}", host=value))
    raw = writer._path.read_bytes()
    assert value.encode() not in raw and b"refused token" in raw
    writer.flush()
    [found] = events(writer.folder)
    assert found["error"] == f"refused token [secret:{name}]"
    assert found["host"] == f"[secret:{name}]"
    for path in parquet_files(writer.folder):
        assert value.encode() not in path.read_bytes()


MASK_A_YEAR = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from flowat_kernel.analytics.events import event
from flowat_kernel.analytics.writer import EventWriter
from flowat_kernel.vault.redaction import register

register("pin", sys.argv[2])
writer = EventWriter(Path(sys.argv[1]), flush_events=10**9, flush_seconds=3600)
when = datetime(int(sys.argv[2]), 3, 4, 5, 6, 7, tzinfo=UTC)
writer.emit(event("run_started", run_id="pin-" + sys.argv[2], ts=when, scheduled_at=when))
writer.close(convert=True)
"""


def test_a_secret_inside_a_timestamp_does_not_poison_the_spool(tmp_path: Path) -> None:
    """A 4-digit secret (a PIN, a year) occurs in timestamps; they stay parseable.

    In a subprocess: the secret is masked process-wide from then on.
    """
    folder = tmp_path / "analytics"
    done = subprocess.run(
        [sys.executable, "-c", MASK_A_YEAR, str(folder), "2031"], capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    assert spools(folder) == []  # converted at close, not left behind unreadable
    assert [p.parent.name for p in parquet_files(folder)] == ["day=2031-03-04"]
    [found] = events(folder)
    when = datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert (found["run_id"], found["ts"], found["scheduled_at"]) == ("pin-[secret:pin]", when, when)


# -- retention ----------------------------------------------------------------------------


def _all_rows(folder: Path) -> list[tuple[Any, ...]]:
    relation = views.connect(folder).sql("SELECT * FROM events ORDER BY run_id")
    return relation.fetchall()


def test_compact_merges_each_days_files_into_one(writer: EventWriter) -> None:
    folder = writer.folder
    today = datetime.now(UTC)
    for batch in range(3):
        writer.emit_many(
            [
                event("action", run_id=f"b{batch}-{i}", ts=today - timedelta(days=i % 2))
                for i in range(10)
            ]
        )
        writer.flush()
    assert len(parquet_files(folder)) == 6  # three flushes, two days each
    before = _all_rows(folder)
    report = compact(folder, today=today.date())
    assert report.as_dict() == {
        "days_compacted": 2,
        "files_before": 6,
        "files_after": 2,
        "days_expired": 0,
        "events": 30,
    }
    files = parquet_files(folder)
    assert len({f.parent for f in files}) == len(files) == 2
    assert _all_rows(folder) == before
    for path in files:
        stamps = pq.read_table(path).column("ts").to_pylist()
        assert stamps == sorted(stamps)
    again = compact(folder, today=today.date())
    assert (again.days_compacted, again.files_before, again.files_after) == (0, 2, 2)
    assert _all_rows(folder) == before


def test_compact_recovers_orphans_first(tmp_path: Path) -> None:
    folder = tmp_path / "analytics"
    crash_after_emitting(folder, "before-compact", 200)
    report = compact(folder)
    assert spools(folder) == [] and report.days_expired == 0
    assert len(events(folder)) == 200


def test_retention_expires_days_older_than_the_period(writer: EventWriter) -> None:
    today = date(2030, 6, 15)
    offsets = {10: 2, 3: 1, 2: 3, 0: 4}  # days ago -> events that day
    for ago, count in offsets.items():
        stamp = datetime.combine(today - timedelta(days=ago), datetime.min.time(), UTC)
        writer.emit_many(
            [
                event("action", run_id=f"ago{ago}-{i}", ts=stamp + timedelta(hours=i))
                for i in range(count)
            ]
        )
        writer.flush()
    report = compact(writer.folder, retention_days=3, today=today)
    # Three days kept: today and the two before it.
    assert report.days_expired == 2
    days = sorted(p.name for p in (writer.folder / "events").iterdir())
    assert days == ["day=2030-06-13", "day=2030-06-15"]
    kept = events(writer.folder)
    assert sorted(e["run_id"] for e in kept) == sorted(
        [f"ago2-{i}" for i in range(3)] + [f"ago0-{i}" for i in range(4)]
    )


@pytest.mark.parametrize("days", [0, -1])
def test_retention_of_less_than_a_day_is_refused(writer: EventWriter, days: int) -> None:
    writer.emit(event("action", run_id="kept"))
    writer.flush()
    with pytest.raises(FlowAtError, match="retention"):
        compact(writer.folder, retention_days=days)
    assert [e["run_id"] for e in events(writer.folder)] == ["kept"]
