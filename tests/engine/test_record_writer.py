"""The background writer of step records: in order, batched, flushed, never fatal.

Against a real SQLite store, and a real run on the Temporal dev server.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.engine import record_writer
from flowat_kernel.engine.record_writer import RecordWriter
from flowat_kernel.store import Store
from flowat_kernel.store.run_records import StepWrite
from flowat_kernel.testing import cells


def _queued_run(store: Store, steps: int) -> str:
    spec = flowat.compile_workflow(
        f"wf_{uuid.uuid4().hex[:8]}",
        cells=cells(*(f"%%flowat step s{i}\nx{i} = {i}" for i in range(steps))),
    )
    version, _ = store.publish(spec, owner="acme", created_by="test")
    run_id = uuid.uuid4().hex
    store.create_run(run_id, version, {}, "test", f"wf-{run_id}")
    return run_id


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(f"sqlite:///{tmp_path / 'store.db'}")
    yield opened
    opened.close()


def test_changes_land_in_order_with_their_own_times(store: Store) -> None:
    run_id = _queued_run(store, 3)
    writer = RecordWriter(store)
    began = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    for i in range(3):
        writer.put(StepWrite(run_id, f"s{i}", "running", 1, began + timedelta(seconds=i)))
        writer.put(StepWrite(run_id, f"s{i}", "retrying", 1, began, error={"message": "x"}))
        writer.put(StepWrite(run_id, f"s{i}", "running", 2, began + timedelta(seconds=9)))
        writer.put(
            StepWrite(
                run_id,
                f"s{i}",
                "succeeded",
                2,
                began + timedelta(seconds=10 + i),
                outputs={"x": {"kind": "inline"}},
                logs=f"log {i}",
            )
        )
    assert writer.flush(timeout=30)
    steps = {s.name: s for s in store.get_run(run_id).steps}
    for i in range(3):
        step = steps[f"s{i}"]
        assert (step.status, step.attempts, step.logs) == ("succeeded", 2, f"log {i}")
        # The first attempt's start stays; the end is the change's own time, not the write's.
        assert step.started_at == began + timedelta(seconds=i)
        assert step.ended_at == began + timedelta(seconds=10 + i)
        assert step.error is None


def test_a_burst_is_written_in_few_transactions(store: Store) -> None:
    run_id = _queued_run(store, 50)
    writer = RecordWriter(store)
    transactions = 0
    original = store.write_steps
    gate = threading.Event()

    def counting(writes):  # type: ignore[no-untyped-def]
        nonlocal transactions
        gate.wait(10)  # hold the first batch so that the rest queue up behind it
        transactions += 1
        original(writes)

    store.write_steps = counting  # type: ignore[method-assign]
    now = datetime.now(UTC)
    for i in range(50):
        writer.put(StepWrite(run_id, f"s{i}", "running", 1, now))
        writer.put(StepWrite(run_id, f"s{i}", "succeeded", 1, now))
    gate.set()
    assert writer.flush(timeout=30)
    assert transactions <= 3, transactions
    assert {s.status for s in store.get_run(run_id).steps} == {"succeeded"}


def test_an_attempts_start_and_end_in_one_batch_are_one_statement(store: Store) -> None:
    """Folded together, they leave the record exactly as the two written one by one."""
    from sqlalchemy import event

    folded_run, one_by_one_run = _queued_run(store, 3), _queued_run(store, 3)
    began = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)

    def changes(run_id: str) -> list[StepWrite]:
        return [
            # s0: one attempt; s1: a retry (both attempts fold); s2: started only
            StepWrite(run_id, "s0", "running", 1, began),
            StepWrite(run_id, "s1", "running", 1, began + timedelta(seconds=1)),
            StepWrite(run_id, "s1", "retrying", 1, began, error={"message": "flaky"}),
            StepWrite(run_id, "s0", "succeeded", 1, began + timedelta(seconds=2), logs="ok"),
            StepWrite(run_id, "s1", "running", 2, began + timedelta(seconds=5)),
            StepWrite(run_id, "s2", "running", 1, began + timedelta(seconds=6)),
            StepWrite(
                run_id, "s1", "failed", 2, began + timedelta(seconds=7), error={"message": "x"}
            ),
        ]

    updates: list[str] = []

    def seen(_c: object, _cur: object, sql: str, *_: object) -> None:
        if sql.lstrip().startswith("UPDATE step_runs"):
            updates.append(sql)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        store.write_steps(changes(folded_run))
        folded = len(updates)
        for change in changes(one_by_one_run):
            store.write_steps([change])
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert folded == 4  # s0 once, s1 twice (one per attempt), s2's start
    assert len(updates) - folded == 7

    def records(run_id: str) -> list[tuple[object, ...]]:
        return [
            (s.name, s.status, s.attempts, s.started_at, s.ended_at, s.error, s.logs)
            for s in store.get_run(run_id).steps
        ]

    assert records(folded_run) == records(one_by_one_run)
    s0, s1, s2 = records(folded_run)
    assert s0[1:5] == ("succeeded", 1, began, began + timedelta(seconds=2))
    assert s1[1:6] == (
        "failed",
        2,
        began + timedelta(seconds=1),
        began + timedelta(seconds=7),
        {"message": "x"},
    )
    assert s2[1:5] == ("running", 1, began + timedelta(seconds=6), None)


def test_a_store_outage_is_logged_and_the_writer_goes_on(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    run_id = _queued_run(store, 2)
    writer = RecordWriter(store)
    original = store.write_steps
    broken = {"on": True}

    def outage(writes):  # type: ignore[no-untyped-def]
        if broken["on"]:
            from flowat_kernel.errors import StoreError

            raise StoreError("the database is not reachable")
        original(writes)

    store.write_steps = outage  # type: ignore[method-assign]
    now = datetime.now(UTC)
    with caplog.at_level(logging.WARNING):
        writer.put(StepWrite(run_id, "s0", "running", 1, now))
        assert writer.flush(timeout=30)
    assert "not written, the run's end will catch up" in caplog.text
    broken["on"] = False
    writer.put(StepWrite(run_id, "s1", "succeeded", 1, now))
    assert writer.flush(timeout=30)
    steps = {s.name: s.status for s in store.get_run(run_id).steps}
    assert steps == {"s0": "pending", "s1": "succeeded"}


def _counting(store: Store) -> list[int]:
    sizes: list[int] = []
    original = store.write_steps

    def counting(writes):  # type: ignore[no-untyped-def]
        sizes.append(len(writes))
        original(writes)

    store.write_steps = counting  # type: ignore[method-assign]
    return sizes


def _lingering(
    store: Store, monkeypatch: pytest.MonkeyPatch, linger: float, steps: int
) -> tuple[str, RecordWriter, list[int]]:
    """A queued run, a writer lingering ``linger`` seconds, and its batches' sizes."""
    monkeypatch.setattr(record_writer, "LINGER", linger)
    return _queued_run(store, steps), RecordWriter(store), _counting(store)


def test_changes_arriving_apart_within_the_linger_share_one_transaction(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step's start, then its end a few milliseconds later: one write, not two."""
    run_id, writer, sizes = _lingering(store, monkeypatch, 2.0, 2)
    now = datetime.now(UTC)
    writer.put(StepWrite(run_id, "s0", "running", 1, now))
    time.sleep(0.2)  # the writer has woken for the first change and waits for more
    writer.put(StepWrite(run_id, "s0", "succeeded", 1, now))
    writer.put(StepWrite(run_id, "s1", "running", 1, now))
    deadline = time.monotonic() + 30
    while not sizes and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sizes == [3]
    assert [s.status for s in store.get_run(run_id).steps] == ["succeeded", "running"]


def test_a_flush_does_not_wait_for_the_linger(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's end flushes its steps' changes: written at once, not when the linger ends."""
    run_id, writer, sizes = _lingering(store, monkeypatch, 600.0, 1)
    writer.put(StepWrite(run_id, "s0", "succeeded", 1, datetime.now(UTC)))
    time.sleep(0.1)
    assert sizes == []  # lingering
    assert writer.flush(timeout=60)  # far less than the 600 s linger
    assert sizes == [1]
    assert store.get_run(run_id).steps[0].status == "succeeded"


def test_flush_waits_for_a_batch_being_written(store: Store) -> None:
    run_id = _queued_run(store, 1)
    writer = RecordWriter(store)
    original = store.write_steps

    def slow(writes):  # type: ignore[no-untyped-def]
        time.sleep(0.5)
        original(writes)

    store.write_steps = slow  # type: ignore[method-assign]
    writer.put(StepWrite(run_id, "s0", "succeeded", 1, datetime.now(UTC)))
    assert not writer.flush(timeout=0.05)  # still being written
    assert writer.flush(timeout=30)
    assert store.get_run(run_id).steps[0].status == "succeeded"


def test_a_finished_run_has_its_step_records(temporal: str, workflow_name: str) -> None:
    # The run's end is recorded after the writer's queue: what flowat.run returns holds
    # every step's status, logs and outputs.
    flowat.publish(
        workflow_name,
        cells=cells(
            *(f"%%flowat step s{i} --local\nprint('step {i}')\nv{i} = {i}" for i in range(8))
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    steps = run.record.steps
    assert [s.status for s in steps] == ["succeeded"] * 8
    assert all(f"step {i}" in (s.logs or "") for i, s in enumerate(steps))
    assert all(s.ended_at is not None and s.outputs for s in steps)
