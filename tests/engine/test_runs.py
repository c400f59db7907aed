"""Runs on the real Temporal dev server: ordering, parallelism, retries, timeouts,
failures, large values by reference and version isolation."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.runtime import get_runtime
from flowat_kernel.testing import cells


def test_chain_with_parameters_and_code_across_steps(temporal: str, workflow_name: str) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step load\nimport math\ndef scaled(v):\n    return v * factor\n"
            "values = list(range(n))",
            "%%flowat step total\ntotal = scaled(sum(values))\nprint('total is', total)",
            "%%flowat step root --local\nroot = math.sqrt(total)",
            parameters="n = 4\nfactor = 2.5",
        ),
    )
    run = flowat.run(workflow_name, parameters={"n": "5"})
    assert run.status == "succeeded", run.error
    assert run.outputs["load"]["values"] == [0, 1, 2, 3, 4]
    assert run.outputs["total"]["total"] == 25.0
    assert run.outputs["root"]["root"] == 5.0
    steps = {s.name: s for s in run.record.steps}
    assert all(s.status == "succeeded" and s.attempts == 1 for s in steps.values())
    assert steps["total"].logs == "total is 25.0\n"
    assert run.record.parameters == {"n": 5, "factor": 2.5}


def test_independent_branches_overlap_in_time(temporal: str, workflow_name: str) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step start\nimport time\nseed = 1",
            "%%flowat step left\ntime.sleep(1.5)\nleft = seed + 1",
            "%%flowat step right\ntime.sleep(1.5)\nright = seed + 2",
            "%%flowat step join\nboth = left + right",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    assert run.outputs["join"]["both"] == 5
    steps = {s.name: s for s in run.record.steps}
    left, right = steps["left"], steps["right"]
    assert left.started_at and left.ended_at and right.started_at and right.ended_at
    overlap = min(left.ended_at, right.ended_at) - max(left.started_at, right.started_at)
    assert overlap.total_seconds() > 1.0, (left, right)
    assert steps["join"].started_at >= max(left.ended_at, right.ended_at)


def test_step_failing_twice_then_succeeding(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    counter = tmp_path / "attempts.txt"
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step flaky --retries 2\n"
            "from pathlib import Path\n"
            "_file = Path(counter)\n"
            "attempt = int(_file.read_text()) + 1 if _file.exists() else 1\n"
            "_file.write_text(str(attempt))\n"
            "if attempt < 3:\n"
            "    raise ConnectionError(f'flaky service, attempt {attempt}')",
            parameters=f"counter = {str(counter)!r}",
        ),
    )
    seen: list[tuple[str, int]] = []
    run = flowat.run(
        workflow_name, progress=lambda r: seen.append((r.steps[0].status, r.steps[0].attempts))
    )
    assert run.status == "succeeded", run.error
    assert run.outputs["flaky"]["attempt"] == 3
    assert run.record.steps[0].attempts == 3
    assert counter.read_text() == "3"
    assert ("retrying", 1) in seen and ("retrying", 2) in seen


def test_retries_are_bounded_and_the_failure_names_step_type_and_line(
    temporal: str, workflow_name: str
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step ok\nx = 1",
            "%%flowat step broken --retries 1\ny = x + 1\n\nraise ValueError(f'bad value {y}')",
            "%%flowat step after\nz = y * 2",
        ),
    )
    started = time.monotonic()
    run = flowat.run(workflow_name)
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["step"] == "broken"
    assert run.error["type"] == "ValueError"
    assert run.error["cell_line"] == 4
    assert "step 'broken' failed at cell line 4: ValueError: bad value 2" in run.error["message"]
    steps = {s.name: s for s in run.record.steps}
    assert steps["ok"].status == "succeeded"
    assert steps["broken"].status == "failed"
    assert steps["broken"].attempts == 2
    assert steps["after"].status == "pending"  # as a cell below a failed cell stays unrun
    assert time.monotonic() - started < 30
    with pytest.raises(flowat.RunFailed, match="ValueError: bad value 2"):
        flowat.run(workflow_name, raise_on_failure=True)


def test_programming_errors_are_not_retried(temporal: str, workflow_name: str) -> None:
    flowat.publish(
        workflow_name, cells=cells("%%flowat step typo --retries 5\nimport flowat_no_such_module")
    )
    run = flowat.run(workflow_name)
    assert run.status == "failed"
    assert run.error is not None and run.error["type"] == "ModuleNotFoundError"
    assert run.record.steps[0].attempts == 1


def test_step_timeout_fails_the_run(temporal: str, workflow_name: str) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step slow --timeout 1s --retries 0\nimport time\ntime.sleep(4)\ndone = True"
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "failed"
    assert run.error is not None and run.error["type"] == "StepTimeout"
    assert "within 1s" in run.error["message"]
    assert run.record.steps[0].status == "failed"


def test_a_name_not_assigned_in_this_run_is_a_clear_input_error(
    temporal: str, workflow_name: str
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step maybe\nif flag:\n    value = 1",
            "%%flowat step use\nresult = value + 1",
            parameters="flag = True",
        ),
    )
    assert flowat.run(workflow_name).outputs["use"]["result"] == 2
    run = flowat.run(workflow_name, parameters={"flag": "false"})
    assert run.status == "failed"
    assert run.error is not None and run.error["type"] == "StepInputError"
    assert "'value'" in run.error["message"] and "'maybe' did not export it" in run.error["message"]


def test_hundred_megabyte_frame_travels_by_reference(temporal: str, workflow_name: str) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step make\nimport numpy as np\nimport pandas as pd\n"
            "frame = pd.DataFrame({'a': np.arange(6_553_600, dtype='float64'),"
            " 'b': np.ones(6_553_600, dtype='float64')})\n"
            "size = int(frame.memory_usage(index=False).sum())",
            "%%flowat step use\nrows = len(frame)\ntotal = float(frame['b'].sum())",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    assert run.outputs["make"]["size"] >= 100 * 1024 * 1024
    assert run.outputs["use"] == {"rows": 6_553_600, "total": 6_553_600.0}
    document = run.to_json()["outputs"]["make"]["frame"]
    assert document["format"] == "parquet" and document["type"] == "DataFrame 6553600x2"

    runtime = get_runtime()

    async def history_size() -> int:
        client = await runtime.client()
        history = await client.get_workflow_handle(run.record.temporal_workflow_id).fetch_history()
        return len(json.dumps(history.to_json_dict()))

    size = runtime.call(history_size())
    assert size < 200_000, f"history holds {size} bytes"


def test_running_execution_keeps_its_version_when_a_new_one_is_published(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    gate = tmp_path / "release"
    body = (
        "%%flowat step wait_for_gate\nimport time\nfrom pathlib import Path\n"
        "for _ in range(300):\n    if Path(gate).exists():\n        break\n    time.sleep(0.05)\n"
        "marker = '{}'"
    )
    parameters = f"gate = {str(gate)!r}"
    v1 = flowat.publish(workflow_name, cells=cells(body.format("v1"), parameters=parameters))
    first = flowat.run(workflow_name, wait=False)
    runtime = get_runtime()
    deadline = time.monotonic() + 20
    while runtime.store.get_run(first.run_id).steps[0].status != "running":
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.05)
    v2 = flowat.publish(workflow_name, cells=cells(body.format("v2"), parameters=parameters))
    assert (v1.number, v2.number) == (1, 2)
    threading.Timer(0.2, gate.touch).start()
    deadline = time.monotonic() + 30
    while not runtime.store.get_run(first.run_id).finished:
        assert time.monotonic() < deadline, "v1 run did not finish"
        time.sleep(0.05)
    finished = flowat.get_run(first.run_id)
    assert finished.version == 1
    assert finished.outputs["wait_for_gate"]["marker"] == "v1"
    latest = flowat.run(workflow_name)
    assert latest.version == 2 and latest.outputs["wait_for_gate"]["marker"] == "v2"


def test_unknown_workflow_version_and_parameters(temporal: str, workflow_name: str) -> None:
    with pytest.raises(flowat.NotFoundError, match="publish it first"):
        flowat.run(workflow_name)
    flowat.publish(workflow_name, cells=cells("%%flowat step a\nx = n", parameters="n = 1"))
    with pytest.raises(flowat.NotFoundError, match="versions are 1 to 1"):
        flowat.run(workflow_name, version=3)
    with pytest.raises(flowat.ParameterError, match=r"parameters are: n \(int, default 1\)"):
        flowat.run(workflow_name, parameters={"m": 2})
    with pytest.raises(flowat.ParameterError, match="not a valid int"):
        flowat.run(workflow_name, parameters={"n": "two"})


def test_unreachable_temporal_is_a_one_line_error(
    flowat_home: Path, monkeypatch: pytest.MonkeyPatch, workflow_name: str
) -> None:
    from flowat_kernel.runtime import reset_runtime

    monkeypatch.setenv("FLOWAT_TEMPORAL_ADDRESS", "127.0.0.1:1")
    reset_runtime()
    try:
        flowat.publish(workflow_name, cells=cells("%%flowat step a\nx = 1"))
        with pytest.raises(
            flowat.TemporalUnavailable, match=r"cannot reach Temporal at 127\.0\.0\.1:1"
        ) as info:
            flowat.run(workflow_name)
        assert "FLOWAT_TEMPORAL_ADDRESS" in str(info.value)
    finally:
        reset_runtime()
