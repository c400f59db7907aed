"""Eager workflow start on the real dev server: a run goes eagerly to a worker of this
process when one polls its queue (its own queue, or the shared queue this process
serves, as REST and webhook runs in `flowat serve`), and never when none does."""

from __future__ import annotations

import flowat_kernel as flowat
from flowat_kernel.access import local_principal
from flowat_kernel.runtime import get_runtime
from flowat_kernel.testing import cells
from flowat_kernel.workspace import Workspace


def test_runs_start_eagerly_only_on_a_worker_of_this_process(
    temporal: str, workflow_name: str
) -> None:
    runtime = get_runtime()
    spec = flowat.compile_workflow(
        workflow_name, cells=cells("%%flowat step work --local\nout = n + 1", parameters="n = 1")
    )
    version, _ = runtime.store.publish(spec, owner=local_principal().owner, created_by="test")
    launcher = Workspace(runtime, local_principal()).launcher

    def start(trigger: str, worker: str, n: int) -> tuple[str, bool]:
        started = launcher.start(
            version,
            {"n": n},
            trigger=trigger,
            actor="test",
            worker=worker,  # type: ignore[arg-type]
        )
        return started.run_id, started.eager

    # The shared queue with no worker in this process: nothing to hand the task to.
    queued, eager = start("rest", "never", 1)
    assert not eager and not runtime.worker_running
    # This process's own queue: its worker takes the first task from the start's answer.
    here, eager = start("api", "here", 2)
    assert eager
    # Once this process serves the shared queue, REST runs start eagerly there too.
    assert runtime.call(runtime.ensure_worker())
    shared, eager = start("rest", "auto", 3)
    assert eager
    for run_id, n in ((queued, 1), (here, 2), (shared, 3)):
        record = launcher.wait(run_id, timeout=120, worker="never")
        assert record.status == "succeeded", record.error
        assert (record.steps[0].outputs or {})["out"]["inline"] == n + 1
