"""Which runner FlowAt's workflows run in: outside Temporal's sandbox unless asked.

The sandbox is kept honest elsewhere: ``tests/replay`` replays every recorded history in
it (``sandboxed_runner``), where a non-deterministic call would fail.
"""

from __future__ import annotations

import pytest
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from flowat_kernel.engine.worker import sandboxed_runner, workflow_runner


def test_workers_run_workflows_outside_the_sandbox_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FLOWAT_WORKFLOW_SANDBOX", raising=False)
    assert isinstance(workflow_runner(), UnsandboxedWorkflowRunner)
    monkeypatch.setenv("FLOWAT_WORKFLOW_SANDBOX", "off")
    assert isinstance(workflow_runner(), UnsandboxedWorkflowRunner)


@pytest.mark.parametrize("value", ["on", "1", "true", " ON "])
def test_the_sandbox_when_asked(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FLOWAT_WORKFLOW_SANDBOX", value)
    runner = workflow_runner()
    assert isinstance(runner, SandboxedWorkflowRunner)
    assert "flowat_kernel" in runner.restrictions.passthrough_modules


def test_the_replay_runner_is_the_sandbox() -> None:
    assert isinstance(sandboxed_runner(), SandboxedWorkflowRunner)
