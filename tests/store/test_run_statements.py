"""The run path's fixed statements write what a run's life should leave, on SQLite and
PostgreSQL: its row and steps at the start, each attempt's change, its end.

The values are read back with plain SQL, not the store's own readers, so a statement
that set a column it should not (or to JSON ``null`` where SQL ``NULL`` belongs, or the
reverse) shows here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from flowat_kernel.spec import StepSpec, WorkflowSpec
from flowat_kernel.store import Store
from flowat_kernel.store.record_changes import RecordChange, RunStartedWrite, StepWrite, coalesced
from flowat_kernel.store.run_statements import step_end

EARLY = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
LATER = EARLY + timedelta(minutes=5)


def _published(store: Store) -> Any:
    spec = WorkflowSpec(
        name=f"wf_{uuid.uuid4().hex[:10]}",
        steps=(StepSpec(name="parse", source="a = 1"), StepSpec(name="reply", source="b = a")),
    )
    version, _ = store.publish(spec, f"org-{uuid.uuid4().hex[:8]}", "alice")
    return version


def _rows(store: Store, sql: str, **params: Any) -> list[dict[str, Any]]:
    with store.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(sql), params)]


def _steps(store: Store, run_id: str) -> dict[str, dict[str, Any]]:
    rows = _rows(
        store,
        "SELECT step, position, status, attempts, started_at, ended_at, "
        "error IS NULL AS no_error, outputs IS NULL AS no_outputs, "
        "display IS NULL AS no_display, logs FROM step_runs WHERE run_id = :run",
        run=run_id,
    )
    return {row.pop("step"): row for row in rows}


def _at(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_a_start_writes_the_run_its_pending_steps_and_one_audit_entry(store: Store) -> None:
    version = _published(store)
    run_id = uuid.uuid4().hex
    record = store.create_run(
        run_id, version, {"rows": 5, "who": "ü"}, "api", f"t-{run_id}", "q1", actor="alice"
    )
    (run,) = _rows(
        store,
        "SELECT r.*, w.name AS workflow FROM runs r JOIN workflows w ON w.id = r.workflow_id "
        "WHERE r.id = :run",
        run=run_id,
    )
    assert run["workflow"] == version.workflow
    assert (run["version_id"], run["version_number"], run["owner"]) == (
        version.id,
        version.number,
        version.owner,
    )
    assert (run["status"], run["trigger"], run["task_queue"]) == ("queued", "api", "q1")
    assert run["temporal_workflow_id"] == f"t-{run_id}"
    assert run["started_at"] is None and run["ended_at"] is None
    assert _at(run["created_at"]) == record.created_at
    assert store.get_run(run_id).parameters == {"rows": 5, "who": "ü"}

    steps = _steps(store, run_id)
    assert {name: (s["position"], s["status"], s["attempts"]) for name, s in steps.items()} == {
        "parse": (0, "pending", 0),
        "reply": (1, "pending", 0),
    }
    assert all(s["no_error"] and s["no_outputs"] and s["no_display"] for s in steps.values())

    entries = _rows(
        store,
        "SELECT actor, action, target, detail FROM audit_log WHERE owner = :owner",
        owner=version.owner,
    )
    started = [e for e in entries if e["action"] == "run.started"]
    assert len(started) == 1 and started[0]["actor"] == "alice"
    assert started[0]["target"] == version.workflow
    assert run_id in str(started[0]["detail"])

    store.create_run(uuid.uuid4().hex, version, {}, "api", f"t2-{run_id}")  # no actor
    assert len(_rows(store, "SELECT id FROM audit_log WHERE owner = :o", o=version.owner)) == len(
        entries
    )


def test_attempts_keep_their_first_start_and_a_wait_note_goes(store: Store) -> None:
    version = _published(store)
    run_id = uuid.uuid4().hex
    store.create_run(run_id, version, {}, "api", f"t-{run_id}")
    store.write_steps([RunStartedWrite(run_id, EARLY), RunStartedWrite(run_id, LATER)])
    (run,) = _rows(store, "SELECT status, started_at FROM runs WHERE id = :r", r=run_id)
    assert run["status"] == "running" and _at(run["started_at"]) == EARLY

    note = {"type": "WaitingForWorker"}
    store.write_steps([StepWrite(run_id, "parse", "waiting", 0, EARLY, error=note)])
    assert _steps(store, run_id)["parse"]["ended_at"] is None  # waiting is not an end
    store.write_steps([StepWrite(run_id, "parse", "running", 1, EARLY)])
    parse = _steps(store, run_id)["parse"]
    assert parse["status"] == "running" and parse["no_error"]  # the note went: SQL NULL
    assert _at(parse["started_at"]) == EARLY

    store.write_steps(
        [
            StepWrite(run_id, "parse", "retrying", 1, LATER, error={"type": "OSError"}, logs=""),
            StepWrite(run_id, "parse", "running", 2, LATER),
        ]
    )
    parse = _steps(store, run_id)["parse"]
    assert (parse["status"], parse["attempts"], parse["no_error"]) == ("running", 2, False)
    assert _at(parse["started_at"]) == EARLY and parse["ended_at"] is None

    end = StepWrite(
        run_id, "parse", "succeeded", 2, LATER, outputs={"a": 1}, logs="ok\n", display=[{}]
    )
    batch = coalesced([StepWrite(run_id, "reply", "running", 1, LATER), end])
    store.write_steps(batch)
    parse = _steps(store, run_id)["parse"]
    assert (parse["status"], parse["logs"], parse["no_outputs"], parse["no_display"]) == (
        "succeeded",
        "ok\n",
        False,
        False,
    )
    assert _at(parse["started_at"]) == EARLY and _at(parse["ended_at"]) == LATER
    assert store.get_run(run_id).steps[0].outputs == {"a": 1}


def test_a_folded_start_sets_only_a_missing_start_time(store: Store) -> None:
    version = _published(store)
    run_id = uuid.uuid4().hex
    store.create_run(run_id, version, {}, "api", f"t-{run_id}")
    store.write_steps(
        coalesced(
            [
                StepWrite(run_id, "reply", "running", 1, EARLY),
                StepWrite(run_id, "reply", "failed", 1, LATER, error={"type": "KeyError"}),
            ]
        )
    )
    reply = _steps(store, run_id)["reply"]
    assert _at(reply["started_at"]) == EARLY and _at(reply["ended_at"]) == LATER
    assert (reply["status"], reply["no_error"], reply["no_outputs"]) == ("failed", False, True)


@pytest.mark.parametrize(
    ("status", "leftover"),
    [("succeeded", "pending"), ("failed", "pending"), ("cancelled", "cancelled")],
)
def test_an_end_stops_open_steps_and_settles_the_rest(
    store: Store, status: str, leftover: str
) -> None:
    version = _published(store)
    run_id = uuid.uuid4().hex
    store.create_run(run_id, version, {}, "api", f"t-{run_id}")
    started: list[RecordChange] = [
        RunStartedWrite(run_id, EARLY),
        StepWrite(run_id, "parse", "running", 1, EARLY),
    ]
    store.write_steps(started)
    error = {"type": "Boom"} if status == "failed" else None
    store.run_finished(run_id, status, error)
    (run,) = _rows(
        store,
        "SELECT status, error IS NULL AS no_error, started_at, ended_at FROM runs WHERE id = :r",
        r=run_id,
    )
    assert run["status"] == status and _at(run["started_at"]) == EARLY
    assert run["ended_at"] is not None
    assert store.get_run(run_id).error == error
    steps = _steps(store, run_id)
    assert steps["parse"]["status"] == "cancelled" and steps["parse"]["ended_at"] is not None
    assert steps["reply"]["status"] == leftover


def test_each_shape_of_an_attempts_end_is_built_once() -> None:
    first = step_end(True, False, True, False)
    assert step_end(True, False, True, False) is first
    flags = (False, True)
    shapes = {step_end(a, b, c, d) for a in flags for b in flags for c in flags for d in flags}
    assert len(shapes) == 16
