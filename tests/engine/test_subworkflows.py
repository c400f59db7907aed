"""Sub-workflow steps on the real Temporal dev server: outputs, pinning, failure, cancel."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.runtime import get_runtime, reset_runtime
from flowat_kernel.testing import cells


def _child_runs(parent_run_id: str) -> list[flowat.Run]:
    runtime = get_runtime()
    return [
        flowat.get_run(r.run_id)
        for r in runtime.store.list_runs(runtime.settings.owner, None, 100)
        if r.trigger == f"workflow:{parent_run_id}"
    ]


def test_a_step_runs_a_child_workflow_pinned_or_latest(temporal: str, workflow_name: str) -> None:
    child = f"{workflow_name}_child"
    flowat.publish(
        child,
        cells=cells(
            "%%flowat step total\ntotal = sum(range(rows))\ntag = label.upper()",
            parameters="rows = 2\nlabel = 'a'",
        ),
    )
    flowat.publish(
        child,
        cells=cells(
            "%%flowat step total\ntotal = 1000 + sum(range(rows))\ntag = label",
            parameters="rows = 2\nlabel = 'a'",
        ),
    )
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step prep\nsize = n * 2",
            f"%%flowat step pinned --workflow {child} --version 1\nrows = size\nlabel = 'x'",
            f"%%flowat step latest --workflow {child}\nrows = size + 1",
            "%%flowat step use\nboth = [pinned['total']['total'], latest['total']['total']]",
            parameters="n = 3",
        ),
    )
    run = flowat.run(workflow_name, parameters={"n": 4})
    assert run.status == "succeeded", run.error
    assert run.outputs["use"]["both"] == [sum(range(8)), 1000 + sum(range(9))]
    assert run.outputs["pinned"]["pinned"] == {"total": {"total": 28, "tag": "X"}}
    children = _child_runs(run.run_id)
    assert sorted((c.version, c.status) for c in children) == [(1, "succeeded"), (2, "succeeded")]
    assert {c.record.parameters["rows"] for c in children} == {8, 9}
    steps = {s.name: s for s in run.record.steps}
    assert steps["pinned"].status == "succeeded" and steps["pinned"].ended_at is not None
    assert run.to_json()["outputs"]["latest"]["latest"]["total"]["total"] == 1036


def test_a_failing_child_fails_the_step_with_the_childs_error(
    temporal: str, workflow_name: str
) -> None:
    child = f"{workflow_name}_child"
    flowat.publish(
        child,
        cells=cells(
            "%%flowat step check --retries 0\n"
            "if rows > 3:\n    raise ValueError(f'too many: {rows}')\nok = True",
            parameters="rows = 1",
        ),
    )
    flowat.publish(
        workflow_name,
        cells=cells(
            f"%%flowat step sub --workflow {child} --retries 0\nrows = 10",
            "%%flowat step after\ndone = sub is not None",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "failed"
    assert run.error is not None and run.error["type"] == "SubWorkflowFailed"
    assert "too many: 10" in run.error["message"] and child in run.error["message"]
    steps = {s.name: s.status for s in run.record.steps}
    assert steps == {"sub": "failed", "after": "pending"}
    (child_run,) = _child_runs(run.run_id)
    assert child_run.status == "failed"


def test_bad_parameters_and_unknown_workflows_are_clear_step_errors(
    temporal: str, workflow_name: str
) -> None:
    child = f"{workflow_name}_child"
    flowat.publish(child, cells=cells("%%flowat step s\nout = rows", parameters="rows = 1"))
    flowat.publish(
        workflow_name,
        cells=cells(f"%%flowat step sub --workflow {child} --retries 0\nrows = {{1, 2}}"),
    )
    run = flowat.run(workflow_name)
    assert run.status == "failed" and run.error is not None
    assert "parameter 'rows' is a set" in run.error["message"]

    other = f"{workflow_name}_b"
    flowat.publish(
        other, cells=cells("%%flowat step sub --workflow never_published --retries 0\nx = 1")
    )
    run = flowat.run(other)
    assert run.status == "failed" and run.error is not None
    assert "never_published" in run.error["message"]


def test_cancelling_the_parent_cancels_the_child(
    temporal: str, workflow_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWAT_HEARTBEAT_TIMEOUT", "1")
    reset_runtime()
    marker = tmp_path / "child-running"
    child = f"{workflow_name}_child"
    flowat.publish(
        child,
        cells=cells(
            "%%flowat step slow --retries 0\nimport pathlib, time\n"
            f"pathlib.Path({str(marker)!r}).write_text('x')\n"
            "for _ in range(600):\n    time.sleep(0.1)\nout = rows",
            parameters="rows = 1",
        ),
    )
    flowat.publish(workflow_name, cells=cells(f"%%flowat step sub --workflow {child}\nrows = 2"))
    queued = flowat.run(workflow_name, wait=False, worker="always")
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    flowat.cancel(queued.run_id)
    run = flowat.wait(queued.run_id, timeout=60)
    assert run.status == "cancelled"
    (child_run,) = _child_runs(run.run_id)
    child_run = flowat.wait(child_run.run_id, timeout=60)
    assert child_run.status == "cancelled"
    assert {s.name: s.status for s in child_run.record.steps} == {"slow": "cancelled"}


def test_step_line_checks_for_sub_workflows() -> None:
    with pytest.raises(flowat.CompileError, match="--version pins a sub-workflow"):
        flowat.compile_workflow("w", cells=cells("%%flowat step s --version 2\nx = 1"))
    with pytest.raises(flowat.CompileError, match="not a Python identifier"):
        flowat.compile_workflow("w", cells=cells("%%flowat step sub-run --workflow c\nx = 1"))
    with pytest.raises(flowat.CompileError, match="cannot be --local"):
        flowat.compile_workflow("w", cells=cells("%%flowat step s --workflow c --local\nx = 1"))
    spec = flowat.compile_workflow(
        "w", cells=cells("%%flowat step s --workflow c --version 3\nrows = 1")
    )
    (step,) = spec.steps
    assert (step.kind, step.workflow, step.workflow_version, step.exports) == (
        "workflow",
        "c",
        3,
        ("s",),
    )
