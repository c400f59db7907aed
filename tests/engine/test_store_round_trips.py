"""What a run asks of the metadata store: counted, statement by statement.

A short run's cost is mostly its round trips to the store, so they are pinned here
(counts, not timings). Starting a run reads its version, then writes the run, its step
rows and its ``run.started`` audit entry in one transaction, and reads nothing back.
A worker checks a run's tasks against the store with one read (its trigger included,
which the egress policy needs), however many steps the run has, and on the steps' path
writes the run once, at its end (marking it running goes with the step records).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

import flowat_kernel as flowat
from flowat_kernel.access.audit import query
from flowat_kernel.api import default_workspace
from flowat_kernel.engine import trust
from flowat_kernel.runtime import get_runtime
from flowat_kernel.testing import cells


class Statements:
    """Every statement the store's engine runs meanwhile, with its thread and commits."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.commits: list[str] = []
        self.on = False

    def statement(self, _conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if self.on:
            self.seen.append((threading.current_thread().name, " ".join(sql.split())))

    def commit(self, _conn: Any) -> None:
        if self.on:
            self.commits.append(threading.current_thread().name)

    def starting_side(self) -> list[str]:
        """Statements not run by the worker's activity threads."""
        return [sql for thread, sql in self.seen if not thread.startswith("flowat-")]


@pytest.fixture
def statements(flowat_home: object) -> Iterator[Statements]:
    engine = get_runtime().store.engine
    counted = Statements()
    event.listen(engine, "before_cursor_execute", counted.statement)
    event.listen(engine, "commit", counted.commit)
    yield counted
    event.remove(engine, "before_cursor_execute", counted.statement)
    event.remove(engine, "commit", counted.commit)


def _publish(steps: int) -> str:
    name = f"trips_{uuid.uuid4().hex[:6]}"
    body = ["%%flowat step s0 --local\nx0 = n"]
    body += [f"%%flowat step s{i} --local\nx{i} = x{i - 1} + 1" for i in range(1, steps)]
    flowat.publish(name, cells=cells(*body, parameters="n = 1"))
    return name


def test_a_start_writes_once_and_reads_nothing_back(statements: Statements) -> None:
    name = _publish(3)
    workspace = default_workspace()
    flowat.run(name, worker="here")  # once: a new home makes its payload keys then
    statements.on = True
    record = workspace.start(name, parameters={"n": 5}, worker="here")
    statements.on = False
    flowat.wait(record.run_id)
    started = [
        sql
        for sql in statements.starting_side()
        if sql.split()[0] in ("SELECT", "INSERT", "UPDATE", "DELETE")
    ]
    inserts = [sql.split()[2] for sql in started if sql.startswith("INSERT")]
    assert inserts == ["runs", "step_runs", "audit_log"], started  # steps in one statement
    reads = [sql for sql in started if sql.startswith("SELECT")]
    assert len(reads) == 2, f"the version (workflow, version), nothing more: {reads}"
    assert not any("FROM runs" in sql or "FROM step_runs" in sql for sql in reads)
    # What start returned is what the store holds for the run as it was queued.
    assert record.status == "queued"
    assert [s.name for s in record.steps] == ["s0", "s1", "s2"]
    stored = get_runtime().store.get_run(record.run_id)
    assert (stored.trigger, stored.parameters, stored.task_queue, stored.created_at) == (
        record.trigger,
        record.parameters,
        record.task_queue,
        record.created_at,
    )
    entries = query(get_runtime().store, record.owner, action="run.started", limit=20)
    assert any(e["detail"].get("run_id") == record.run_id for e in entries)


def test_a_worker_checks_a_run_with_one_read(statements: Statements) -> None:
    name = _publish(4)
    statements.on = True
    run = flowat.run(name, parameters={"n": 1}, worker="here")
    statements.on = False
    assert run.status == "succeeded"
    assert run.outputs["s3"]["x3"] == 4
    checks = [
        sql
        for thread, sql in statements.seen
        if thread.startswith("flowat-") and "FROM runs JOIN workflow_versions" in sql
    ]
    assert len(checks) == 1, statements.seen
    # Marking the run running goes with the step records (the background writer); on
    # the steps' own path the run is written once, at its end.
    on_path = [
        sql
        for thread, sql in statements.seen
        if thread.startswith("flowat-step_") and sql.startswith("UPDATE runs")
    ]
    assert len(on_path) == 1 and "ended_at" in on_path[0], on_path
    started = [
        sql
        for thread, sql in statements.seen
        if thread == "flowat-step-records" and sql.startswith("UPDATE runs")
    ]
    assert len(started) == 1 and "started_at" in started[0], started
    assert run.record.started_at is not None and run.record.started_at <= run.record.ended_at
    assert trust.known_owner(run.run_id) == run.record.owner


@pytest.mark.parametrize("chunk", ["", " --chunk 3"], ids=["item_per_activity", "chunk"])
def test_foreach_items_write_no_step_records_of_their_own(
    statements: Statements, chunk: str
) -> None:
    # The store keeps one record per step (a --foreach step's merges its items): an
    # item's attempt has no row to update, so it queues no step change at all.
    name = f"trips_{uuid.uuid4().hex[:6]}"
    flowat.publish(
        name,
        cells=cells(
            f"%%flowat step each --foreach xs --local{chunk}\ny = item", parameters="xs = []"
        ),
    )
    updates: dict[int, int] = {}
    for count in (2, 6):
        statements.seen.clear()
        statements.on = True
        run = flowat.run(name, parameters={"xs": list(range(count))}, worker="here")
        statements.on = False
        assert run.status == "succeeded", run.error
        assert run.outputs["each"]["y"] == list(range(count))
        updates[count] = sum(1 for _, sql in statements.seen if sql.startswith("UPDATE step_runs"))
    assert updates[6] == updates[2], f"step record updates grow with the items: {updates}"
