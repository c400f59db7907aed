"""A run's bookkeeping is two local activities (``flowat.run_begin``, ``flowat.run_end``).

Real dev server: the history of a run holds exactly those two besides its steps, its
records are complete, and a limited run still takes its slot and frees it. The store's
one-transaction end (``Store.finish_run``) is checked on SQLite and PostgreSQL against
what the three separate writes it replaces leave.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

import flowat_kernel as flowat
from flowat_kernel.api import default_workspace
from flowat_kernel.engine.run_bookkeeping import BEGIN, END, PATCH_FOLDED
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


def test_a_run_books_itself_with_two_local_activities(temporal: str, workflow_name: str) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step load\nrows = n * 2",
            "%%flowat step total --local\nresult = rows + 1",
            parameters="n = 1",
        ),
    )
    run = flowat.run(workflow_name, parameters={"n": 3}, worker="always")
    assert run.status == "succeeded", run.error
    events = _history(run)
    assert PATCH_FOLDED in _patches(events)
    assert _local_activities(events) == [BEGIN, "flowat.run_step", END]
    record = flowat.get_run(run.run_id).record
    assert record.status == "succeeded" and record.started_at and record.ended_at
    steps = {s.name: s for s in record.steps}
    assert steps["total"].outputs == {"result": {"value": 7}} or steps["total"].status == (
        "succeeded"
    )
    assert all(s.status == "succeeded" and s.ended_at for s in record.steps)


def test_a_limited_run_waits_then_begins_and_frees_its_slot(
    temporal: str, workflow_name: str
) -> None:
    """Limit 1: the second run is queued by run_begin, admitted later, then loads its spec."""
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
    kinds = _local_activities(_history(flowat.get_run(later.run_id)))
    assert kinds[0] == BEGIN and kinds[-1] == END
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
