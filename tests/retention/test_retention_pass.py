"""A retention pass over 10,000 runs on SQLite and on PostgreSQL: it keeps exactly the
newest N / younger than D days, never an active run, and leaves no orphan artifact,
event, step record, dead letter or alert delivery; it is idempotent, safe when two
passes race, and one pass at a time runs across workers (the store's lease)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from flowat_kernel.access import Principal, Role
from flowat_kernel.access.audit import query
from flowat_kernel.analytics.deletion import event_run_ids
from flowat_kernel.engine import devserver
from flowat_kernel.engine.deletion import RETENTION_ACTOR, RetentionLoop, retention_pass
from flowat_kernel.runtime import Runtime, get_runtime, reset_runtime
from flowat_kernel.store.tables import AlertDeliveryRow, DeadLetterRow, RunRow, StepRunRow
from flowat_kernel.workspace import Workspace
from tests.retention.bulk import insert_runs, survivors

POLICIES: dict[str | None, tuple[int | None, int | None]] = {
    None: (30, None),  # the organization's default: 30 days
    "keepers": (None, 100),  # the newest 100
    "both": (10, 50),  # 10 days and at most 50
}
COUNTS = {"plain": 4000, "keepers": 4000, "both": 2000}


@pytest.fixture(params=["sqlite", "postgresql"])
def isolated(
    request: pytest.FixtureRequest,
    flowat_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    new_postgres_database: Callable[[str], str],
) -> Iterator[Runtime]:
    """A runtime with its own home and store (so every artifact and event in it is
    this test's), on the session's Temporal dev server."""
    server = devserver.status(flowat_home / "temporal")
    assert server is not None
    home = tmp_path / "home"
    monkeypatch.setenv("FLOWAT_HOME", str(home))
    monkeypatch.setenv("FLOWAT_TEMPORAL_ADDRESS", server.address)
    monkeypatch.setenv("FLOWAT_RETENTION_INTERVAL", "0")
    if request.param == "postgresql":
        monkeypatch.setenv("FLOWAT_DATABASE_URL", new_postgres_database("flowat_retention"))
    reset_runtime()
    yield get_runtime()
    reset_runtime()


def _count(runtime: Runtime, table: Any, ids: set[str]) -> int:
    """Rows of ``table`` that belong to the runs ``ids``."""
    column = table.run_id if hasattr(table, "run_id") else table.id
    statement = select(func.count()).select_from(table).where(column.in_(sorted(ids)))
    return int(runtime.store.transaction(lambda s: s.scalar(statement)) or 0)


def _remaining(runtime: Runtime, owner: str) -> set[str]:
    return set(
        runtime.store.transaction(
            lambda s: list(s.scalars(select(RunRow.id).where(RunRow.owner == owner)))
        )
    )


def test_a_pass_over_ten_thousand_runs_keeps_exactly_what_the_policies_say(
    isolated: Runtime,
) -> None:
    runtime = isolated
    owner = "acme"
    bulk = insert_runs(runtime, owner, COUNTS, artifact_sample=300, event_sample=1500)
    assert len(bulk.runs) == 10_000
    admin = Workspace(runtime, Principal(user="ada", owner=owner, role=Role.ADMINISTRATOR))
    admin.set_retention(None, days=30)
    admin.set_retention("keepers", keep=100)
    admin.set_retention("both", days=10, keep=50)
    expected = survivors(bulk, POLICIES)
    doomed = bulk.ids() - expected
    assert 3000 < len(doomed) < 9000  # the policies really cut, and really keep
    active = {r.run_id for r in bulk.runs if r.status in ("queued", "running")}
    assert active and active <= expected

    report = retention_pass(runtime, now=bulk.now)

    assert report.runs == len(doomed) and report.kept == []
    assert _remaining(runtime, owner) == expected
    for table in (StepRunRow, DeadLetterRow, AlertDeliveryRow):
        assert _count(runtime, table, doomed) == 0, table.__tablename__
    assert _count(runtime, StepRunRow, expected) == len(expected)
    # no orphan artifact or event: what is left belongs to runs that are left
    artifact_runs = set(runtime.artifacts.run_ids())
    assert artifact_runs == bulk.with_artifacts & expected
    assert report.artifacts == len(bulk.with_artifacts & doomed)
    events = event_run_ids(runtime.settings.home / "analytics")
    assert events == bulk.with_events & expected
    assert report.events == 2 * len(bulk.with_events & doomed)
    # the audit log says who deleted them: every deleted run, once
    entries = query(runtime.store, owner, limit=1000, action="run.expired")
    assert {e["actor"] for e in entries} == {RETENTION_ACTOR}
    audited = [run["run_id"] for e in entries for run in e["detail"].get("runs", [e["detail"]])]
    assert sorted(audited) == sorted(doomed)
    # idempotent: a second pass finds nothing
    again = retention_pass(runtime, now=bulk.now)
    assert (again.runs, again.artifacts, again.events) == (0, 0, 0)
    assert _remaining(runtime, owner) == expected


def test_two_racing_passes_delete_each_run_once_and_files_written_late_are_swept(
    isolated: Runtime,
) -> None:
    runtime = isolated
    owner = "race"
    bulk = insert_runs(runtime, owner, {"wf": 1500}, artifact_sample=100, event_sample=300)
    runtime.store.set_retention(owner, "wf", None, 200, "ada")
    expected = survivors(bulk, {"wf": (None, 200)})
    doomed = bulk.ids() - expected
    reports: list[Any] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(2)

    def one() -> None:
        try:
            gate.wait()
            reports.append(retention_pass(runtime, now=bulk.now))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sum(r.runs for r in reports) == len(doomed)
    assert _remaining(runtime, owner) == expected
    entries = query(runtime.store, owner, limit=1000, action="run.expired")
    audited = [run["run_id"] for e in entries for run in e["detail"].get("runs", [e["detail"]])]
    assert sorted(audited) == sorted(doomed)  # each once
    # a step that was still finishing writes an artifact for a deleted run afterwards:
    late = sorted(doomed)[0]
    runtime.artifacts.put(f"runs/{late}/s", "late", b"written after the deletion")
    from flowat_kernel.analytics.events import event

    runtime.events.emit(event("run_finished", run_id=late, owner=owner, status="succeeded"))
    swept = retention_pass(runtime, now=bulk.now)
    assert swept.runs == 0 and swept.artifacts == 1 and swept.events == 1
    assert late not in set(runtime.artifacts.run_ids())
    assert late not in event_run_ids(runtime.settings.home / "analytics")


def test_one_pass_at_a_time_across_workers_and_active_runs_are_never_expired(
    isolated: Runtime,
) -> None:
    runtime = isolated
    owner = "lease"
    bulk = insert_runs(runtime, owner, {"wf": 300}, active_every=5)
    runtime.store.set_retention(owner, "wf", 1, 1, "ada")
    loops = [RetentionLoop(runtime, every=3600) for _ in range(4)]
    results: list[Any] = []
    gate = threading.Barrier(len(loops))

    def attempt(loop: RetentionLoop) -> None:
        gate.wait()
        results.append(loop.run_once())

    threads = [threading.Thread(target=attempt, args=(loop,)) for loop in loops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ran = [r for r in results if r is not None]
    assert len(ran) == 1, results  # exactly one worker took the lease
    # not due again within the interval, whoever asks
    assert all(loop.run_once() is None for loop in loops)
    left = _remaining(runtime, owner)
    active = {r.run_id for r in bulk.runs if r.status in ("queued", "running")}
    assert active and active <= left
    finished_left = left - active
    assert len(finished_left) <= 1  # keep 1 (if it is younger than a day)
    # a worker that died holding the lease: another takes over once it expires
    assert runtime.store.take_lease("other-job", "dead-worker", 0.0, 0.0)
    assert runtime.store.take_lease("other-job", "next-worker", 60.0, 0.0)
    assert not runtime.store.take_lease("other-job", "third-worker", 60.0, 0.0)


def test_bad_policies_are_refused_with_what_to_fix(isolated: Runtime) -> None:
    runtime = isolated
    insert_runs(runtime, "pol", {"wf": 3})
    editor = Workspace(runtime, Principal(user="ed", owner="pol", role=Role.EDITOR))
    from flowat_kernel.access.errors import Forbidden
    from flowat_kernel.errors import FlowAtError, NotFoundError

    with pytest.raises(FlowAtError, match="--days N"):
        editor.set_retention("wf")
    with pytest.raises(FlowAtError, match="--keep must be a whole number of at least 1"):
        editor.set_retention("wf", keep=0)
    with pytest.raises(FlowAtError, match="--days must be a whole number"):
        editor.set_retention("wf", days=True)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match="no workflow named 'nope'"):
        editor.set_retention("nope", keep=3)
    with pytest.raises(Forbidden, match="retention:write"):
        editor.set_retention(None, days=3)  # the organization's default: Administrator
    with pytest.raises(Forbidden, match="retention:write"):
        editor.apply_retention()
    assert editor.set_retention("wf", keep=3).keep == 3
    viewer = Workspace(runtime, Principal(user="vi", owner="pol", role=Role.VIEWER))
    with pytest.raises(Forbidden):
        viewer.set_retention("wf", keep=5)
    with pytest.raises(Forbidden):
        viewer.clear_retention("wf")
    assert [p.workflow for p in viewer.retention()] == ["wf"]
    other = Workspace(runtime, Principal(user="x", owner="else", role=Role.OWNER))
    assert other.retention() == []
    with pytest.raises(NotFoundError):
        other.clear_retention("wf")
    assert editor.clear_retention("wf").keep == 3
    with pytest.raises(NotFoundError, match="no retention policy"):
        editor.clear_retention("wf")
