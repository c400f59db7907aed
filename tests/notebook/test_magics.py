"""The magics through a real IPython shell, against the real Temporal dev server."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import flowat_kernel as flowat

STEPS = [
    "%%flowat step load\nimport pandas as pd\nframe = pd.DataFrame({'v': range(rows)})",
    "%%flowat step double\ndef twice(x):\n    return x * 2\ndoubled = twice(int(frame['v'].sum()))",
    "%%flowat step count --local --retries 1\ncount = len(frame)",
    "%%flowat step report --after double\nreport = {'doubled': doubled, 'count': count}",
]


def write_notebook(path: Path) -> list[nbformat.NotebookNode]:
    cells = [
        new_markdown_cell("# demo"),
        new_code_cell("%load_ext flowat_kernel"),
        new_code_cell("rows = 4", metadata={"tags": ["parameters"]}),
        *[new_code_cell(source) for source in STEPS],
        new_code_cell("frame.describe()"),
    ]
    nbformat.write(new_notebook(cells=cells), path)
    return cells


def run(shell: InteractiveShell, source: str, cell_id: str | None = None) -> object:
    result = shell.run_cell(source, cell_id=cell_id)
    if result.error_in_exec is not None:
        raise result.error_in_exec
    if result.error_before_exec is not None:
        raise result.error_before_exec
    return result.result


def test_kernel_and_file_compile_to_the_identical_spec(
    shell: InteractiveShell, temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    path = tmp_path / "demo.ipynb"
    cells = write_notebook(path)
    shell.user_ns["__session__"] = str(path)
    for cell in cells:
        if cell.cell_type == "code" and not cell.source.startswith("%load_ext"):
            run(shell, cell.source, cell_id=cell.id)
    assert shell.user_ns["doubled"] == 12  # the cells really ran in the kernel
    published = run(shell, f"%flowat publish {workflow_name}")
    from_file = flowat.compile_workflow(workflow_name, notebook=path)
    assert isinstance(published, flowat.Published)
    assert published.version.spec == from_file
    assert published.version.spec_hash == from_file.content_hash()
    assert [i.name for i in from_file.inputs] == ["rows"]
    again = run(shell, f"%flowat publish {workflow_name}")
    assert isinstance(again, flowat.Published)
    assert again.created is False and again.number == published.number


def test_rerunning_an_edited_cell_replaces_its_step(
    shell: InteractiveShell, temporal: str, workflow_name: str
) -> None:
    run(shell, "%%flowat step first\nx = 1", cell_id="a")
    run(shell, "%%flowat step second\ny = x + 1", cell_id="b")
    run(shell, "%%flowat step renamed\ny = x + 10", cell_id="b")
    assert run(shell, "%flowat steps") == ["first", "renamed"]
    published = run(shell, f"%flowat publish {workflow_name}")
    assert isinstance(published, flowat.Published)
    assert [s.name for s in published.version.spec.steps] == ["first", "renamed"]


def test_run_magic_returns_a_run_with_outputs_and_timings(
    shell: InteractiveShell, temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    path = tmp_path / "demo.ipynb"
    for cell in write_notebook(path):
        if cell.cell_type == "code" and "%load_ext" not in cell.source:
            run(shell, cell.source, cell_id=cell.id)
    run(shell, f"%flowat publish {workflow_name} --notebook {path}")
    result = run(shell, f"%flowat run {workflow_name} -p rows=10")
    assert isinstance(result, flowat.Run)
    assert result.status == "succeeded", result.error
    assert result.outputs["report"]["report"] == {"doubled": 90, "count": 10}
    assert list(result.outputs["load"]["frame"]["v"]) == list(range(10))
    assert [s["name"] for s in result.steps] == ["load", "double", "count", "report"]
    assert all(s["duration_seconds"] is not None for s in result.steps)
    assert "succeeded" in result._repr_html_()
    versions = run(shell, f"%flowat versions {workflow_name}")
    assert list(versions["version"]) == [1]  # type: ignore[index]
    runs = run(shell, f"%flowat runs {workflow_name}")
    assert list(runs["run"]) == [result.run_id]  # type: ignore[index]


def test_step_cells_run_exactly_as_without_the_magic(
    shell: InteractiveShell, temporal: str
) -> None:
    assert run(shell, "%%flowat step a\nvalue = 20\nvalue + 1", cell_id="x") == 21
    assert shell.user_ns["value"] == 20
    with pytest.raises(ZeroDivisionError):
        run(shell, "%%flowat step b\n1 / 0", cell_id="y")


def test_misuse_is_a_one_line_usage_error(
    shell: InteractiveShell, temporal: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from IPython.core.error import UsageError

    for source, message in [
        ("%%flowat step a --bogus\nx = 1", "unknown option: --bogus"),
        ("%flowat frobnicate", "unknown command 'frobnicate'"),
        ("%flowat run", "the following arguments are required: workflow"),
        ("%flowat run no_such_workflow", "no workflow named 'no_such_workflow'"),
    ]:
        result = shell.run_cell(source)
        assert type(result.error_in_exec) is UsageError, source
        assert message in str(result.error_in_exec)
    output = capsys.readouterr()
    assert "Traceback" not in output.out + output.err


def test_publish_without_parameters_cell_hints_at_notebook_path(
    shell: InteractiveShell, temporal: str, workflow_name: str
) -> None:
    from IPython.core.error import UsageError

    run(shell, "rows = 3")
    run(shell, "%%flowat step a\nx = rows * 2", cell_id="p")
    result = shell.run_cell(f"%flowat publish {workflow_name}")
    assert type(result.error_in_exec) is UsageError
    assert "pass --notebook PATH" in str(result.error_in_exec)
