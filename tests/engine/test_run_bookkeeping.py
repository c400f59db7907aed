"""A run's bookkeeping: ``flowat.run_begin``, and ``flowat.run_end`` or the final step.

Real dev server: the history of a run holds ``run_begin`` besides its steps, and
``run_end`` unless its final step recorded the end; its records are complete either way,
a failure of the store at the end never runs a step again, and a limited run still takes
its slot and frees it. The store's
one-transaction end (``Store.finish_run``) is checked on SQLite and PostgreSQL against
what the three separate writes it replaces leave.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from temporalio.client import WorkflowFailureError

import flowat_kernel as flowat
from flowat_kernel.api import default_workspace
from flowat_kernel.engine.activities import StepActivities
from flowat_kernel.engine.run_bookkeeping import BEGIN, END, PATCH_END_IN_STEP, PATCH_FOLDED
from flowat_kernel.runtime import get_runtime
from flowat_kernel.spec import StepSpec, WorkflowSpec
from flowat_kernel.store import Store
from flowat_kernel.store.clock import utcnow
from flowat_kernel.store.run_records import StepWrite
from flowat_kernel.testing import cells


def _history(run: Any) -> list[Any]:
    runtime = get_runtime()

    async def fetch() -> Any:
        client = await runtime.client()
        handle = client.get_workflow_handle(run.record.temporal_workflow_id)
        # the run's end is in the store before the workflow task that recorded it
        # completes (with its local activities' markers): wait for the workflow to close
        with contextlib.suppress(WorkflowFailureError):
            await handle.result()
        return await handle.fetch_history()

    return list(runtime.call(fetch()).events)


def _local_activities(events: list[Any]) -> list[str]:
    """The activity type of every local activity's marker, in order."""
    found = []
    for event in events:
        if not event.HasField("marker_recorded_event_attributes"):
            continue
        marker = event.marker_recorded_event_attributes
        if marker.marker_name != "core_local_activity":
            continue
        data = json.loads(marker.details["data"].payloads[0].data)
        found.append(data["activity_type"])
    return found


def _patches(events: list[Any]) -> set[str]:
    found = set()
    for event in events:
        marker = event.marker_recorded_event_attributes
        if event.HasField("marker_recorded_event_attributes") and marker.marker_name == (
            "core_patch"
        ):
            found.add(json.loads(marker.details["patch-data"].payloads[0].data)["id"])
    return found


def _two_steps(workflow_name: str, total: str = "result = rows + 1") -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step load\nrows = n * 2",
            f"%%flowat step total --local\n{total}",
            parameters="n = 1",
        ),
    )


def _complete(run_id: str) -> Any:
    record = flowat.get_run(run_id).record
    assert record.started_at and record.ended_at
    assert all(s.ended_at for s in record.steps)
    return record


def test_a_run_books_itself_with_one_local_activity_when_its_final_step_ends_it(
    temporal: str, workflow_name: str
) -> None:
    _two_steps(workflow_name)
    run = flowat.run(workflow_name, parameters={"n": 3}, worker="always")
    assert run.status == "succeeded", run.error
    assert run.outputs == {"load": {"rows": 6}, "total": {"result": 7}}
    events = _history(run)
    assert {PATCH_FOLDED, PATCH_END_IN_STEP} <= _patches(events)
    assert _local_activities(events) == [BEGIN, "flowat.run_step"]
    record = _complete(run.run_id)
    assert record.status == "succeeded" and record.error is None
    steps = {s.name: (s.status, s.outputs, s.attempts) for s in record.steps}
    assert steps == {
        "load": ("succeeded", {"rows": {"inline": 6}}, 1),
        "total": ("succeeded", {"result": {"inline": 7}}, 1),
    }


def test_a_failed_final_step_leaves_the_end_to_run_end(temporal: str, workflow_name: str) -> None:
    _two_steps(workflow_name, "raise ValueError(rows)")
    run = flowat.run(workflow_name, parameters={"n": 3}, worker="always")
    assert run.status == "failed"
    assert _local_activities(_history(run)) == [BEGIN, "flowat.run_step", END]
    record = _complete(run.run_id)
    assert record.error is not None and record.error["type"] == "ValueError"
    assert {s.name: s.status for s in record.steps} == {"load": "succeeded", "total": "failed"}


def test_a_regular_final_step_leaves_the_end_to_run_end(temporal: str, workflow_name: str) -> None:
    """Its result reaches Temporal a workflow task later: the store must not show it first."""
    flowat.publish(
        workflow_name,
        cells=cells("%%flowat step load --local\nrows = 2", "%%flowat step total\nr = rows"),
    )
    run = flowat.run(workflow_name, worker="always")
    assert run.status == "succeeded", run.error
    events = _history(run)
    assert _local_activities(events) == [BEGIN, "flowat.run_step", END]
    assert PATCH_END_IN_STEP not in _patches(events)


def test_parallel_final_steps_leave_the_end_to_run_end(temporal: str, workflow_name: str) -> None:
    """Two steps finish the run together: neither knows it is the last, run_end records it."""
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step a --local\nx = 1",
            "%%flowat step b --local --after a\ny = x + 1",
            "%%flowat step c --local --after a\nz = x + 2",
        ),
    )
    run = flowat.run(workflow_name, worker="always")
    assert run.status == "succeeded", run.error
    events = _history(run)
    assert _local_activities(events)[-1] == END
    assert PATCH_END_IN_STEP not in _patches(events)
    assert _complete(run.run_id).status == "succeeded"


def test_a_store_error_at_the_end_never_runs_the_final_step_again(
    temporal: str,
    workflow_name: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The final step cannot record the end: run_end does, and the step's code ran once.

    The worker's log names the error's type only: a statement's parameters may hold the
    run's values.
    """
    calls: list[str] = []
    record_end = StepActivities.record_end

    def failing_once(self: StepActivities, finish: Any) -> Any:
        calls.append(finish.run_id)
        if len(calls) == 1:
            parameters = {"b_outputs": "value-of-a-step-output"}
            raise OperationalError("UPDATE runs", parameters, Exception("database is locked"))
        return record_end(self, finish)

    monkeypatch.setattr(StepActivities, "record_end", failing_once)
    tally = tmp_path / "tally"
    _two_steps(workflow_name, f"open({str(tally)!r}, 'a').write('x')\nresult = rows + 1")
    run = flowat.run(workflow_name, parameters={"n": 3}, worker="always")
    assert run.status == "succeeded", run.error
    assert run.outputs["total"] == {"result": 7}
    assert tally.read_text() == "x"  # the step's code ran once
    assert _local_activities(_history(run)) == [BEGIN, "flowat.run_step", END]
    assert len(calls) == 2  # the step's try, then run_end's
    assert _complete(run.run_id).status == "succeeded"
    (warning,) = [r.getMessage() for r in caplog.records if "final step" in r.getMessage()]
    assert run.run_id in warning and "OperationalError" in warning
    assert "value-of-a-step-output" not in caplog.text and "locked" not in caplog.text


def test_an_end_recorded_without_its_wakeups_asks_run_end_for_them_only(
    temporal: str, workflow_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recorded by the step, the lookups failed: run_end does them, the end is not rewritten."""
    ends: list[str] = []
    lookups: list[str] = []
    record_end = StepActivities.record_end
    alerts_for = Store.alerts_for

    def counted(self: StepActivities, finish: Any) -> Any:
        ends.append(finish.run_id)
        return record_end(self, finish)

    def failing_once(self: Store, *args: Any) -> Any:
        lookups.append(args[1])
        if len(lookups) == 1:
            raise OperationalError("SELECT alerts", {}, Exception("database is locked"))
        return alerts_for(self, *args)

    monkeypatch.setattr(StepActivities, "record_end", counted)
    monkeypatch.setattr(Store, "alerts_for", failing_once)
    _two_steps(workflow_name)
    run = flowat.run(workflow_name, parameters={"n": 3}, worker="always")
    assert run.status == "succeeded", run.error
    assert _local_activities(_history(run)) == [BEGIN, "flowat.run_step", END]
    assert ends == [run.run_id]  # recorded once, by the step
    assert lookups == [workflow_name, workflow_name]  # the step's try, then run_end's
    assert _complete(run.run_id).status == "succeeded"


def test_a_limited_run_waits_then_begins_and_frees_its_slot(
    temporal: str, workflow_name: str
) -> None:
    """Limit 1: the second run is queued by run_begin, admitted later, then loads its spec.

    The first run's only step is its final one: it records the end, frees the slot and
    names the waiter, which the workflow then wakes (no run_end).
    """
    flowat.publish(
        workflow_name, cells=cells("%%flowat step work --local\nimport time\ntime.sleep(0.5)")
    )
    door = default_workspace()
    door.set_limit(workflow_name, 1)
    first = door.start(workflow_name, trigger="api", worker="always")
    second = door.start(workflow_name, trigger="api", worker="always")
    ended = [door.wait(r.run_id, timeout=120).record for r in (first, second)]
    assert [r.status for r in ended] == ["succeeded", "succeeded"]
    earlier, later = sorted(ended, key=lambda r: r.started_at or utcnow())
    assert earlier.ended_at is not None and later.started_at is not None
    assert later.started_at >= earlier.ended_at  # never both at once
    assert _local_activities(_history(flowat.get_run(earlier.run_id))) == [
        BEGIN,
        "flowat.run_step",
    ]
    kinds = _local_activities(_history(flowat.get_run(later.run_id)))
    assert kinds[0] == BEGIN and END not in kinds
    assert "flowat.run_loaded" in kinds  # queued at begin: loaded once admitted


def _run(store: Store) -> str:
    spec = WorkflowSpec(
        name=f"wf_{uuid.uuid4().hex[:10]}",
        steps=(
            StepSpec(name="a", source="x = 1", exports=("x",)),
            StepSpec(name="b", source="y = x", exports=("y",)),
            StepSpec(name="c", source="z = y"),
            StepSpec(name="d", source="w = 1"),
        ),
    )
    version, _ = store.publish(spec, f"owner-{uuid.uuid4().hex[:8]}", "alice")
    run_id = uuid.uuid4().hex
    store.create_run(run_id, version, {}, "manual", f"temporal-{run_id}")
    store.run_started(run_id)
    # a's records were written; b's end was lost (the store was down), c failed unrecorded
    store.write_steps(
        [
            StepWrite(run_id, "a", "running", 1, utcnow()),
            StepWrite(run_id, "a", "succeeded", 1, utcnow(), outputs={"x": {"value": 1}}),
            StepWrite(run_id, "b", "running", 2, utcnow()),
            StepWrite(run_id, "c", "running", 1, utcnow()),
        ]
    )
    return run_id


def _steps(store: Store, run_id: str) -> dict[str, tuple[Any, ...]]:
    record = store.get_run(run_id)
    return {
        s.name: (s.status, s.attempts, s.outputs, s.error, s.started_at is None, s.ended_at is None)
        for s in record.steps
    } | {"": (record.status, record.error, record.ended_at is None)}


@pytest.mark.parametrize("status", ["failed", "succeeded", "cancelled"])
def test_finish_run_leaves_what_the_three_writes_left(store: Store, status: str) -> None:
    succeeded = {"a": {"x": {"value": 1}}, "b": {"y": {"value": 1}}}
    states = {"a": "succeeded", "b": "succeeded", "c": "failed", "d": "pending"}
    error = {"step": "c", "type": "Boom", "message": "no"} if status == "failed" else None
    failed = "c" if status == "failed" else None
    if status == "cancelled":
        states = {"a": "succeeded", "b": "succeeded", "c": "cancelled", "d": "cancelled"}
        error = {"type": "RunCancelled", "message": "the run was cancelled"}
    one, three = _run(store), _run(store)
    duration = store.finish_run(one, status, error, succeeded, states, failed)
    store.reconcile_steps(three, succeeded, states)
    if failed is not None and error is not None:
        store.mark_step_failed(three, failed, error)
    store.run_finished(three, status, error)
    assert _steps(store, one) == _steps(store, three)
    assert duration is not None and duration >= 0
    found = _steps(store, one)
    assert found["b"][:3] == ("succeeded", 2, {"y": {"value": 1}})  # caught up, attempt kept
    assert found["a"][2] == {"x": {"value": 1}}
    if status == "failed":
        assert found["c"][0] == "failed"  # reconciled: its attempt's end was never written
        assert found["c"][3] == error  # and it carries the run's error, not nothing
        assert found["d"][0] == "pending"  # a cell below a failed one stays unrun
    if status == "cancelled":
        assert (found["c"][0], found["d"][0]) == ("cancelled", "cancelled")
    assert found[""][0] == status and found[""][2] is False


def test_a_failed_step_keeps_the_error_its_attempt_wrote(store: Store) -> None:
    run_id = _run(store)
    own = {"type": "ValueError", "message": "bad row 7", "traceback": ["..."]}
    store.write_steps([StepWrite(run_id, "c", "failed", 1, utcnow(), error=own)])
    summary = {"step": "c", "type": "ValueError", "message": "step 'c' failed"}
    states = {"a": "succeeded", "b": "succeeded", "c": "failed", "d": "pending"}
    store.finish_run(run_id, "failed", summary, {"a": {"x": {"value": 1}}}, states, "c")
    assert _steps(store, run_id)["c"][3] == own
