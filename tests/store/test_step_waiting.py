"""A routed step's ``waiting`` record on real SQLite and PostgreSQL: no end time, and the
note goes when a worker takes the step (a retrying step's error stays)."""

from __future__ import annotations

import uuid

from flowat_kernel.spec import StepSpec, WorkflowSpec
from flowat_kernel.store import Store
from flowat_kernel.store.clock import utcnow
from flowat_kernel.store.gauges import breaker_states, dead_letter_depth, worker_queues
from flowat_kernel.store.run_records import StepWrite


def _run(store: Store) -> str:
    spec = WorkflowSpec(
        name=f"wf_{uuid.uuid4().hex[:10]}",
        steps=(
            StepSpec(name="train", source="y = 2", queue="gpu"),
            StepSpec(name="load", source="x = 1"),
        ),
    )
    version, _ = store.publish(spec, f"owner-{uuid.uuid4().hex[:8]}", "alice")
    run_id = uuid.uuid4().hex
    store.create_run(run_id, version, {}, "manual", f"temporal-{run_id}")
    store.run_started(run_id)
    return run_id


def test_waiting_then_running_clears_the_note_and_keeps_no_end(store: Store) -> None:
    run_id = _run(store)
    note = {"type": "WaitingForWorker", "queue": "gpu", "message": "waiting for a worker"}
    store.write_steps([StepWrite(run_id, "train", "waiting", 0, utcnow(), error=note)])
    waiting = {s.name: s for s in store.get_run(run_id).steps}["train"]
    assert (waiting.status, waiting.error, waiting.ended_at) == ("waiting", note, None)

    store.step_started(run_id, "train", 1)
    running = {s.name: s for s in store.get_run(run_id).steps}["train"]
    assert (running.status, running.error, running.attempts) == ("running", None, 1)

    # a retry's error is not a waiting note: it stays while the next attempt runs
    store.step_started(run_id, "load", 1)
    store.step_finished(run_id, "load", "retrying", 1, error={"type": "OSError"})
    store.step_started(run_id, "load", 2)
    load = {s.name: s for s in store.get_run(run_id).steps}["load"]
    assert (load.status, load.error) == ("running", {"type": "OSError"})


def test_operator_gauges_count_without_content(store: Store) -> None:
    assert dead_letter_depth(store) >= 0
    assert all(len(row) == 3 for row in breaker_states(store))
    store.register_worker("w-1", "gpu-q", "host-a/gpu-1", 42)
    assert worker_queues(store)["gpu-q"] == ["host-a/gpu-1 (pid 42)"]
    store.remove_worker("w-1")
    assert "gpu-q" not in worker_queues(store)
