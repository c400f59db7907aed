"""Notebook semantics of a run (issue 17), on the real Temporal dev server.

A step that fails for good stops the run: no further step starts, steps not started stay
``pending``, the run fails with that step's error; ``on_failure="continue"`` opts out. A
clean ``SystemExit`` (``sys.exit()``, ``sys.exit(0)``, ``raise SystemExit``) ends the
run successfully at that step; a non-zero one fails it with the real exception.

Independent branches still run in parallel, so the side-effect step below is made to be
ready only once the failed check is known to the workflow: it comes after a
``--wait-for`` step whose signal the test sends after the workflow's own view (its
``flowat.states`` query) shows the check failed. That ordering is exact, not a timing
guess.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell
from nbformat.v4 import new_code_cell, new_notebook

import flowat_kernel as flowat
from flowat_kernel.cli.main import main
from flowat_kernel.commands.catalog import ON_FAILURE_CHOICES
from flowat_kernel.errors import SpecError
from flowat_kernel.runtime import get_runtime
from flowat_kernel.spec import WorkflowSpec
from flowat_kernel.spec.model import ON_FAILURE_CHOICES as SPEC_CHOICES
from flowat_kernel.testing import cells


def _live_states(run_id: str) -> dict[str, str]:
    """The workflow's own view of its steps (its ``flowat.states`` query)."""
    runtime = get_runtime()
    workflow_id = flowat.get_run(run_id).record.temporal_workflow_id

    async def query() -> dict[str, str]:
        client = await runtime.client()
        states: dict[str, str] = await client.get_workflow_handle(workflow_id).query(
            "flowat.states"
        )
        return states

    return runtime.call(query(), timeout=30)


def _await_state(run_id: str, step: str, state: str) -> None:
    deadline = time.monotonic() + 60  # only guards against a hang
    while _live_states(run_id).get(step) != state:
        assert time.monotonic() < deadline, f"step {step!r} never became {state!r}"
        time.sleep(0.1)


def _check_then_side_effect(marker: Path) -> list[Any]:
    """A check that fails, and a side effect that reads nothing from it."""
    return cells(
        "%%flowat step check --retries 0\nrows = 0\nraise ValueError(f'only {rows} rows')",
        "%%flowat step uses_check\nreport = rows * 2",
        "%%flowat step gate --wait-for go --timeout 120s\nNone",
        "%%flowat step effect --after gate\nfrom pathlib import Path\n"
        "Path(marker).write_text('sent')\nsent = True",
        parameters=f"marker = {str(marker)!r}",
    )


def _run_to_the_gate(workflow_name: str) -> flowat.Run:
    """Start the run, wait until the workflow saw the check fail, then open the gate."""
    run = flowat.run(workflow_name, wait=False, worker="always")
    _await_state(run.run_id, "check", "failed")
    _await_state(run.run_id, "gate", "waiting")
    flowat.signal(run.run_id, "go")
    return flowat.wait(run.run_id, timeout=120)


def test_a_failed_check_stops_the_run_before_an_independent_side_effect(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    marker = tmp_path / "sent.txt"
    published = flowat.publish(workflow_name, cells=_check_then_side_effect(marker))
    assert published.version.spec.on_failure == "stop"
    run = _run_to_the_gate(workflow_name)
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["step"] == "check" and run.error["type"] == "ValueError"
    assert "only 0 rows" in run.error["message"]
    assert not marker.exists(), "a side effect ran after the failed check"
    live = _live_states(run.run_id)
    assert live == {
        "check": "failed",
        "uses_check": "pending",
        "gate": "succeeded",  # it was running when the check failed: it finished
        "effect": "pending",
    }
    steps = {s.name: s for s in run.record.steps}
    assert steps["effect"].started_at is None and steps["effect"].attempts == 0
    assert steps["gate"].status == "succeeded"


def test_the_record_keeps_steps_not_started_pending(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    flowat.publish(workflow_name, cells=_check_then_side_effect(tmp_path / "sent.txt"))
    run = _run_to_the_gate(workflow_name)
    steps = {s.name: s.status for s in run.record.steps}
    assert steps["effect"] == "pending" and steps["uses_check"] == "pending"


def test_on_failure_continue_runs_steps_that_do_not_depend_on_the_failure(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    marker = tmp_path / "sent.txt"
    published = flowat.publish(
        workflow_name, cells=_check_then_side_effect(marker), on_failure="continue"
    )
    assert published.version.spec.on_failure == "continue"
    run = _run_to_the_gate(workflow_name)
    assert run.status == "failed", "the run still fails, with the first failure"
    assert run.error is not None
    assert run.error["step"] == "check" and run.error["type"] == "ValueError"
    assert marker.read_text() == "sent"
    live = _live_states(run.run_id)
    assert live["effect"] == "succeeded"
    assert live["uses_check"] == "pending", "a step reading the failed step's names never runs"
    steps = {s.name: s for s in run.record.steps}
    assert steps["effect"].status == "succeeded" and steps["check"].status == "failed"
    assert steps["uses_check"].started_at is None


@pytest.mark.parametrize("exit_line", ["sys.exit(0)", "sys.exit()", "raise SystemExit"])
def test_a_clean_system_exit_ends_the_run_successfully_there(
    temporal: str, workflow_name: str, tmp_path: Path, exit_line: str
) -> None:
    marker = tmp_path / "later.txt"
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step first\nx = 1",
            f"%%flowat step middle\nimport sys\ny = x + 1\nprint('stopping here')\n{exit_line}",
            "%%flowat step later --after middle\nfrom pathlib import Path\n"
            "Path(marker).write_text('ran')\nz = x + 2",
            parameters=f"marker = {str(marker)!r}",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    assert run.error is None
    assert not marker.exists(), "a step after the SystemExit ran"
    steps = {s.name: s for s in run.record.steps}
    assert steps["first"].status == "succeeded"
    assert steps["middle"].status == "succeeded" and steps["middle"].attempts == 1
    assert steps["later"].started_at is None
    assert _live_states(run.run_id) == {
        "first": "succeeded",
        "middle": "succeeded",
        "later": "pending",
    }


def test_a_non_zero_system_exit_fails_the_run_with_the_real_exception(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    marker = tmp_path / "later.txt"
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step first\nx = 1",
            "%%flowat step middle\nimport sys\nsys.exit(3)",
            "%%flowat step later --after middle\nfrom pathlib import Path\n"
            "Path(marker).write_text('ran')",
            parameters=f"marker = {str(marker)!r}",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["step"] == "middle"
    assert run.error["type"] == "SystemExit"
    assert "SystemExit: 3" in run.error["message"]
    assert not marker.exists()
    steps = {s.name: s for s in run.record.steps}
    assert steps["middle"].status == "failed"
    assert _live_states(run.run_id)["later"] == "pending"


# -- the option: spec field, hash, and where it is set ---------------------------------


#: A spec and its content hash as computed before ``on_failure`` existed.
_EARLIER_SPEC = {
    "name": "w",
    "inputs": [{"name": "n", "type": "int", "default": 3}],
    "steps": [
        {"name": "a", "source": "x = n"},
        {"name": "b", "source": "y = x", "inputs": [{"name": "x", "source": "step", "step": "a"}]},
    ],
    "edges": [{"source": "a", "target": "b", "names": ["x"]}],
}
_EARLIER_HASH = "sha256:bd2a81a81f008820b71d24112cee2cc4404066ce0a7479b6ccb9001e3b1d32b9"


def test_the_default_keeps_every_earlier_content_hash() -> None:
    spec = WorkflowSpec.parse(_EARLIER_SPEC)
    assert spec.on_failure == "stop"
    assert spec.content_hash() == _EARLIER_HASH
    assert "on_failure" not in json.loads(spec.canonical_json())
    going_on = WorkflowSpec.parse({**_EARLIER_SPEC, "on_failure": "continue"})
    assert json.loads(going_on.canonical_json())["on_failure"] == "continue"
    assert going_on.content_hash() != _EARLIER_HASH
    assert WorkflowSpec.parse(going_on.canonical_json()) == going_on
    with pytest.raises(SpecError, match="on_failure"):
        WorkflowSpec.parse({**_EARLIER_SPEC, "on_failure": "ignore"})
    assert ON_FAILURE_CHOICES == SPEC_CHOICES


def _notebook(path: Path, on_failure: object = None) -> Path:
    metadata = {"flowat": {"on_failure": on_failure}} if on_failure is not None else {}
    nbformat.write(
        new_notebook(
            cells=[
                new_code_cell("%%flowat step a\nx = 1"),
                new_code_cell("%%flowat step b\ny = 2"),
            ],
            metadata=metadata,
        ),
        path,
    )
    return path


def test_publish_takes_the_option_from_argument_cli_and_notebook_metadata(
    temporal: str, workflow_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = _notebook(tmp_path / "plain.ipynb")
    marked = _notebook(tmp_path / "marked.ipynb", "continue")
    assert flowat.publish(workflow_name, notebook=plain).version.spec.on_failure == "stop"
    from_metadata = flowat.publish(workflow_name, notebook=marked)
    assert from_metadata.created and from_metadata.version.spec.on_failure == "continue"
    # the argument wins over the metadata
    assert (
        flowat.publish(workflow_name, notebook=marked, on_failure="stop").version.spec.on_failure
        == "stop"
    )
    capsys.readouterr()

    def published_by_cli(*extra: str) -> str:
        assert main(["publish", str(plain), "--name", workflow_name, "--json", *extra]) == 0
        number = json.loads(capsys.readouterr().out)["version"]
        return next(v.spec.on_failure for v in flowat.versions(workflow_name) if v.number == number)

    assert published_by_cli("--on-failure", "continue") == "continue"
    assert published_by_cli() == "stop"
    assert published_by_cli("--on-failure", "stop") == "stop"
    capsys.readouterr()
    with pytest.raises(SystemExit) as usage:
        main(["publish", str(plain), "--name", workflow_name, "--on-failure", "maybe"])
    assert usage.value.code == 2
    assert "--on-failure" in capsys.readouterr().err
    wrong = _notebook(tmp_path / "wrong.ipynb", "sometimes")
    assert main(["publish", str(wrong), "--name", workflow_name]) == 2
    assert "metadata.flowat.on_failure must be 'stop'" in capsys.readouterr().err
    ran = flowat.run_notebook(marked, workflow=workflow_name)
    assert ran.status == "succeeded"
    assert flowat.versions(workflow_name)[0].spec.on_failure == "continue"


def test_the_magic_sets_the_option(
    shell: InteractiveShell, temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    for source in ("%%flowat step a\nx = 1", "%%flowat step b\ny = x + 1"):
        assert shell.run_cell(source).error_in_exec is None
    result = shell.run_cell(f"%flowat publish {workflow_name} --on-failure continue")
    assert result.error_in_exec is None, result.error_in_exec
    assert isinstance(result.result, flowat.Published)
    assert result.result.version.spec.on_failure == "continue"
    result = shell.run_cell(f"%flowat publish {workflow_name}")
    assert isinstance(result.result, flowat.Published)
    assert result.result.version.spec.on_failure == "stop"
    marked = _notebook(tmp_path / "marked.ipynb", "continue")
    result = shell.run_cell(f"%flowat publish {workflow_name} --notebook {marked}")
    assert isinstance(result.result, flowat.Published), result.error_in_exec
    assert result.result.version.spec.on_failure == "continue"
