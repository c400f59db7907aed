"""A failing ``--local`` step fails its step and the run, recorded, like any other step.

A local activity's failure reaches the workflow as the step's own error, not wrapped
in an ``ActivityError``: before, it failed the workflow at once, the run's end was
never recorded and ``flowat.run`` waited forever. And a run whose workflow closes
without recording its end (here: terminated from outside) is recorded by its waiter.
"""

from __future__ import annotations

import time

import pytest

import flowat_kernel as flowat
from flowat_kernel.runtime import get_runtime
from flowat_kernel.testing import cells


def _steps(run: flowat.Run) -> dict[str, str]:
    return {s.name: s.status for s in run.record.steps}


@pytest.mark.timeout(120)
def test_a_failing_local_step_fails_the_run_with_its_error(
    temporal: str, workflow_name: str
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step check --local --retries 1\nraise ValueError('bad row 7')",
            "%%flowat step beside --local\nimport time\ntime.sleep(0.3)\nok = 1",
            "%%flowat step later --after check --local\nz = 1",
        ),
    )
    run = flowat.run(workflow_name, timeout=60)
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["step"] == "check" and run.error["type"] == "ValueError"
    assert "bad row 7" in run.error["message"] and run.error["cell_line"] == 2
    assert _steps(run) == {"check": "failed", "beside": "succeeded", "later": "pending"}
    check = next(s for s in run.record.steps if s.name == "check")
    assert check.attempts == 2  # --retries 1: the local activity's own retry happened


@pytest.mark.timeout(120)
def test_a_failing_local_item_fails_its_fan_out(temporal: str, workflow_name: str) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step each --foreach rows --local --retries 0\n"
            "if item == 2:\n    raise KeyError('row 2')\ndoubled = item * 2",
            parameters="rows = [1, 2, 3]",
        ),
    )
    run = flowat.run(workflow_name, timeout=60)
    assert run.status == "failed"
    assert run.error is not None and run.error["type"] == "KeyError"
    assert _steps(run)["each"] == "failed"


@pytest.mark.timeout(120)
def test_a_local_step_past_its_timeout_fails_as_timed_out(
    temporal: str, workflow_name: str
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step slow --local --timeout 2s --retries 0\nimport time\ntime.sleep(30)"
        ),
    )
    started = time.monotonic()
    run = flowat.run(workflow_name, timeout=60)
    assert time.monotonic() - started < 25
    assert run.status == "failed"
    assert run.error is not None and run.error["step"] == "slow"
    assert _steps(run)["slow"] in ("failed", "cancelled")


@pytest.mark.timeout(120)
def test_a_run_whose_workflow_closes_unrecorded_is_recorded_by_its_waiter(
    temporal: str, workflow_name: str
) -> None:
    flowat.publish(workflow_name, cells=cells("%%flowat step wait\nimport time\ntime.sleep(60)"))
    run = flowat.run(workflow_name, wait=False, worker="here")
    runtime = get_runtime()
    deadline = time.monotonic() + 30
    while runtime.store.get_run(run.run_id).status != "running":
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.1)

    async def terminate() -> None:
        client = await runtime.client()
        record = runtime.store.get_run(run.run_id)
        await client.get_workflow_handle(record.temporal_workflow_id).terminate("operator")

    runtime.call(terminate())
    started = time.monotonic()
    ended = flowat.wait(run.run_id, timeout=60)
    assert time.monotonic() - started < 20
    assert ended.status == "failed"
    assert ended.error is not None
    assert "terminated without recording its end" in ended.error["message"]
    assert ended.error["type"] == "TerminatedError"
    assert {s["name"]: s["status"] for s in ended.steps} == {"wait": "cancelled"}
