"""``papermill --engine flowat`` through papermill's own API and entry point (no mocks)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from papermill.exceptions import PapermillExecutionError

import flowat_kernel as flowat
from flowat_kernel.errors import CompileError


def _notebook(tmp_path: Path, workflow: str, *steps: str, parameters: str = "n = 3") -> Path:
    notebook = new_notebook()
    notebook.metadata.update(
        {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    params = new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    notebook.cells = [
        new_markdown_cell("# test"),
        new_code_cell("%load_ext flowat_kernel"),
        params,
        *(new_code_cell(s) for s in steps),
        new_code_cell("print('exploration, not a step')"),
    ]
    path = tmp_path / f"{workflow}.ipynb"
    nbformat.write(notebook, path)
    return path


def _execute(path: Path, out: Path, **parameters: object) -> nbformat.NotebookNode:
    return papermill.execute_notebook(
        str(path), str(out), parameters=parameters, engine_name="flowat", progress_bar=False
    )


GOOD = (
    "%%flowat step make\nvalues = list(range(n))\nprint('made', len(values))",
    "%%flowat step total\ntotal = sum(values)",
)


def test_steps_run_on_temporal_with_the_injected_parameters(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    path = _notebook(tmp_path, workflow_name, *GOOD)
    result = _execute(path, tmp_path / "out.ipynb", n=5)
    written = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert written == result
    run = flowat.get_run(written.metadata.flowat["run_id"])
    assert run.workflow == workflow_name and run.record.trigger == "papermill"
    assert run.outputs["total"]["total"] == 10  # n=5 reached the run, not just a kernel
    cells = written.cells
    injected = cells[3]
    assert injected.metadata.tags == ["injected-parameters"] and "n = 5" in injected.source
    make, total = cells[4], cells[5]
    assert make.outputs[0] == {"output_type": "stream", "name": "stdout", "text": "made 5\n"}
    assert make.outputs[1].data["application/json"] == {"values": [0, 1, 2, 3, 4]}
    assert total.outputs[0].data["text/plain"] == "total = 10"
    for cell in (make, total):
        meta = cell.metadata.papermill
        assert meta["status"] == "completed" and meta["exception"] is False
        assert meta["start_time"] <= meta["end_time"] and meta["duration"] >= 0
    assert [c.execution_count for c in cells[2:6]] == [1, 2, 3, 4]
    assert cells[1].metadata.papermill["status"] == "skipped" and not cells[1].outputs
    assert cells[6].metadata.papermill["status"] == "skipped" and cells[6].execution_count is None
    assert written.metadata.papermill["parameters"] == {"n": 5}
    assert written.metadata.papermill["exception"] is None


def test_publishes_only_when_the_steps_changed(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    path = _notebook(tmp_path, workflow_name, *GOOD)
    _execute(path, tmp_path / "a.ipynb")
    _execute(path, tmp_path / "b.ipynb", n=2)
    assert [v.number for v in flowat.versions(workflow_name)] == [1]
    path = _notebook(tmp_path, workflow_name, GOOD[0], "%%flowat step total\ntotal = max(values)")
    out = _execute(path, tmp_path / "c.ipynb")
    assert [v.number for v in flowat.versions(workflow_name)] == [2, 1]
    assert out.metadata.flowat["version"] == 2


def test_a_failing_step_fails_the_notebook_the_papermill_way(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    path = _notebook(
        tmp_path,
        workflow_name,
        GOOD[0],
        "%%flowat step broken --retries 0\nprint('before')\nratio = len(values) / 0",
        "%%flowat step after\nlater = ratio * 2",
    )
    out = tmp_path / "out.ipynb"
    with pytest.raises(PapermillExecutionError) as raised:
        _execute(path, out)
    assert raised.value.ename == "ZeroDivisionError"
    written = nbformat.read(out, as_version=4)
    assert written.metadata.papermill["exception"] is True
    broken = next(c for c in written.cells if c.source.startswith("%%flowat step broken"))
    assert broken.metadata.papermill["status"] == "failed"
    error = broken.outputs[-1]
    assert error.output_type == "error" and error.ename == "ZeroDivisionError"
    assert "division by zero" in error.evalue
    assert broken.outputs[0].text == "before\n"
    after = next(c for c in written.cells if c.source.startswith("%%flowat step after"))
    assert after.metadata.papermill["status"] == "pending" and not after.outputs
    # papermill's own markers point at the failing cell
    assert "papermill-error-cell-tag" in written.cells[0].metadata.tags


def test_parameters_arrive_as_papermill_parsed_them(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    """No refusal and no conversion: a kernel would get these values, so do the steps."""
    path = _notebook(tmp_path, workflow_name, "%%flowat step show\nshown = repr(n)")
    for value in ("many", '"quoted"', "42", 5.0, None, [1, 2], {"a": True}):
        out = _execute(path, tmp_path / "out.ipynb", n=value)
        run = flowat.get_run(out.metadata.flowat["run_id"])
        assert run.outputs["show"]["shown"] == repr(value)
        assert out.metadata.papermill["parameters"] == {"n": value}
    out = _execute(path, tmp_path / "out.ipynb", nope="unknown, injected")
    run = flowat.get_run(out.metadata.flowat["run_id"])
    assert run.record.parameters == {"n": 3, "nope": "unknown, injected"}


def test_a_bad_step_cell_gets_a_clear_error(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    path = _notebook(tmp_path, workflow_name, "%%flowat step a --nope\nx = 1")
    with pytest.raises(CompileError, match="nope"):
        _execute(path, tmp_path / "out.ipynb")


def test_the_workflow_name_comes_from_metadata(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    path = _notebook(tmp_path, "01 odd name", *GOOD)
    notebook = nbformat.read(path, as_version=4)
    out = _execute(path, tmp_path / "out.ipynb")
    assert out.metadata.flowat["workflow"] == "nb_01_odd_name"
    notebook.metadata["flowat"] = {"workflow": workflow_name}
    nbformat.write(notebook, path)
    assert _execute(path, tmp_path / "out.ipynb").metadata.flowat["workflow"] == workflow_name
