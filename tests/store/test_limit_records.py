"""Concurrency-limit admission in the store, on real SQLite and PostgreSQL, under races.

Threads (and, on each backend, separate processes) compete for a workflow's slots; the
store must never let more runs hold slots than the limit, must keep waiters in FIFO
order, and must free a slot whenever a run's end is recorded.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from flowat_kernel.store import Store, utcnow
from tests.store.test_store import make_spec

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'flowat.db'}"
    url: str = request.getfixturevalue("new_postgres_database")("flowat_limits")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    result = Store(store_url)
    yield result
    result.close()


def _runs(store: Store, owner: str, name: str, count: int) -> list[str]:
    version, _ = store.publish(make_spec(name), owner, "alice")
    ids = []
    for _ in range(count):
        run_id = uuid.uuid4().hex
        store.create_run(run_id, version, {}, "test", f"flowat-{name}-{run_id}")
        ids.append(run_id)
    return ids


def _running(store: Store, owner: str) -> int:
    rows = store.read(
        sa.text("SELECT count(*) FROM runs WHERE owner = :o AND status = 'running'").bindparams(
            o=owner
        )
    )
    return int(rows[0][0])


def test_no_limit_admits_without_a_slot(store: Store) -> None:
    owner, name = f"o-{uuid.uuid4().hex[:8]}", f"wf_{uuid.uuid4().hex[:8]}"
    (run,) = _runs(store, owner, name, 1)
    assert store.admit_run(run).decision == "unlimited"
    assert store.get_run(run).status == "queued"  # run_loaded marks it running later


def test_queue_is_fifo_and_a_recorded_end_frees_the_slot(store: Store) -> None:
    owner, name = f"o-{uuid.uuid4().hex[:8]}", f"wf_{uuid.uuid4().hex[:8]}"
    runs = _runs(store, owner, name, 4)
    store.set_concurrency_limit(owner, name, 1, "queue", "alice")
    assert store.admit_run(runs[0]).decision == "admitted"
    assert store.get_run(runs[0]).status == "running"
    assert store.admit_run(runs[0]).decision == "admitted"  # idempotent
    second, third = store.admit_run(runs[1]), store.admit_run(runs[2])
    assert (second.decision, second.position) == ("queued", 1)
    assert (third.decision, third.position) == ("queued", 2)
    assert store.queue_positions(runs) == {runs[1]: 1, runs[2]: 2}
    # the third asks again before the second: still not its turn, even with a slot free
    store.run_finished(runs[0], "failed", {"type": "X", "message": "boom"})
    assert store.admission_wakeups(runs[0]) == [f"flowat-{name}-{runs[1]}"]
    assert store.admit_run(runs[2]).decision == "queued"
    assert store.admit_run(runs[1]).decision == "admitted"
    # a waiter cancelled while waiting gives up its place
    assert store.admit_run(runs[3]).position == 2
    store.run_finished(runs[2], "cancelled", {"type": "RunCancelled", "message": "x"})
    assert store.admit_run(runs[3]).position == 1
    assert store.admit_run(runs[2]).decision == "ended"


def test_a_silent_waiter_loses_its_place(store: Store) -> None:
    owner, name = f"o-{uuid.uuid4().hex[:8]}", f"wf_{uuid.uuid4().hex[:8]}"
    runs = _runs(store, owner, name, 3)
    store.set_concurrency_limit(owner, name, 1, "queue", "alice")
    start = utcnow()
    assert store.admit_run(runs[0], start).decision == "admitted"
    assert store.admit_run(runs[1], start).position == 1
    later = start + timedelta(minutes=5)  # runs[1]'s workflow never asked again
    assert store.admit_run(runs[2], later).position == 1
    store.run_finished(runs[0], "succeeded")
    assert store.admit_run(runs[2], later).decision == "admitted"


def test_skip_records_the_run_skipped_with_reason_limit(store: Store) -> None:
    owner, name = f"o-{uuid.uuid4().hex[:8]}", f"wf_{uuid.uuid4().hex[:8]}"
    runs = _runs(store, owner, name, 2)
    store.set_concurrency_limit(owner, "", 1, "skip", "alice")  # the organization's default
    assert store.admit_run(runs[0]).decision == "admitted"
    assert store.admit_run(runs[1]).decision == "skipped"
    skipped = store.get_run(runs[1])
    assert skipped.status == "skipped" and skipped.finished
    assert skipped.error is not None and skipped.error["reason"] == "limit"
    assert {s.status for s in skipped.steps} == {"skipped"}


def test_cancel_oldest_picks_each_running_run_once(store: Store) -> None:
    owner, name = f"o-{uuid.uuid4().hex[:8]}", f"wf_{uuid.uuid4().hex[:8]}"
    runs = _runs(store, owner, name, 5)
    store.set_concurrency_limit(owner, name, 2, "cancel-oldest", "alice")
    assert store.admit_run(runs[0]).decision == "admitted"
    assert store.admit_run(runs[1]).decision == "admitted"
    third = store.admit_run(runs[2])
    assert third.decision == "queued" and third.cancel == (f"flowat-{name}-{runs[0]}",)
    assert store.admit_run(runs[2]).cancel == ()  # asked again: no second victim
    fourth = store.admit_run(runs[3])
    assert fourth.cancel == (f"flowat-{name}-{runs[1]}",)
    assert store.admit_run(runs[4]).cancel == ()  # nobody left to cancel: it waits
    store.run_finished(runs[0], "cancelled", {"type": "RunCancelled", "message": "x"})
    assert store.admit_run(runs[2]).decision == "admitted"
    assert store.admit_run(runs[3]).decision == "queued"
    audit = store.audit_sources(
        owner, limit=10, before=None, logged_triggers=(), action="run.cancelled_by_limit"
    )
    assert sorted((e.target, e.detail["run_id"], e.detail["for_run"]) for e in audit) == sorted(
        [(name, runs[0], runs[2]), (name, runs[1], runs[3])]
    )


def test_limits_are_set_shown_and_cleared_per_workflow_and_organization(store: Store) -> None:
    owner, name = f"o-{uuid.uuid4().hex[:8]}", f"wf_{uuid.uuid4().hex[:8]}"
    assert store.effective_concurrency_limit(owner, name) is None
    store.set_concurrency_limit(owner, "", 5, "queue", "alice")
    assert store.effective_concurrency_limit(owner, name).max_concurrent_runs == 5  # type: ignore[union-attr]
    store.set_concurrency_limit(owner, name, 2, "skip", "bob")
    store.set_concurrency_limit(owner, name, 3, "skip", "bob")  # replaces
    own = store.effective_concurrency_limit(owner, name)
    assert own is not None and (own.max_concurrent_runs, own.when_full) == (3, "skip")
    assert store.clear_concurrency_limit(owner, name) is True
    assert store.clear_concurrency_limit(owner, name) is False
    assert store.effective_concurrency_limit(owner, name).workflow == ""  # type: ignore[union-attr]
    assert store.effective_concurrency_limit(f"x{owner}", name) is None  # other organization


def _compete(url: str, run_ids: list[str], limit: int, peaks: list[int]) -> None:
    """Ask for a slot for each run until admitted; each admitted run ends at once."""
    store = Store(url)
    try:
        owner = store.get_run(run_ids[0]).owner
        pending = list(run_ids)
        while pending:
            for run_id in list(pending):
                decision = store.admit_run(run_id).decision
                if decision == "admitted":
                    peaks.append(_running(store, owner))
                    store.run_finished(run_id, "succeeded")
                    pending.remove(run_id)
                else:
                    assert decision == "queued", decision
    finally:
        store.close()


def _compete_in_process(
    url: str,
    run_ids: list[str],
    limit: int,
    out: multiprocessing.Queue,  # type: ignore[type-arg]
) -> None:
    peaks: list[int] = []
    _compete(url, run_ids, limit, peaks)
    out.put(peaks)


def test_threads_and_processes_racing_for_slots_never_exceed_the_limit(
    store: Store, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spawned processes read __main__.__spec__; an IPython shell an earlier test made
    # replaced __main__ with a module that has none.
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", None, raising=False)
    owner, name = f"o-{uuid.uuid4().hex[:8]}", f"wf_{uuid.uuid4().hex[:8]}"
    runs = _runs(store, owner, name, 48)
    store.set_concurrency_limit(owner, name, 3, "queue", "alice")
    peaks: list[int] = []
    threads = [
        threading.Thread(target=_compete, args=(store_url, runs[i::6], 3, peaks)) for i in range(4)
    ]
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    processes = [
        context.Process(target=_compete_in_process, args=(store_url, runs[i::6], 3, out))
        for i in (4, 5)
    ]
    for worker in [*threads, *processes]:
        worker.start()
    for thread in threads:
        thread.join(timeout=300)
    for _ in processes:
        peaks.extend(out.get(timeout=300))
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert len(peaks) == 48  # every run was admitted once, none lost
    assert max(peaks) <= 3, sorted(peaks)[-5:]
    assert {store.get_run(r).status for r in runs} == {"succeeded"}
