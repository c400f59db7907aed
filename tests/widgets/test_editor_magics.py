"""The editor commands through the kernel's magics object, and step lines written back."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell
from nbformat.v4 import new_code_cell, new_notebook

import flowat_kernel as flowat
from flowat_kernel.errors import FlowAtError, NotFoundError
from flowat_kernel.notebook import editor_magics
from flowat_kernel.widgets.cell_sync import frontend_script, rewrite_notebook_file
from flowat_kernel.widgets.diff import VersionDiff
from flowat_kernel.widgets.editor import GraphEditor


def test_editor_edit_is_written_to_the_kernel_registry_and_the_notebook_file(
    shell: InteractiveShell, temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    path = tmp_path / "nb.ipynb"
    cells = [
        new_code_cell("%%flowat step first --retries 1\nx = 1"),
        new_code_cell("%%flowat step second\ny = x + 1"),
    ]
    nbformat.write(new_notebook(cells=cells), path)
    for cell in cells:
        assert shell.run_cell(cell.source, cell_id=cell.id).success
    assert shell.run_cell(f"%flowat publish {workflow_name}").success
    magics = shell.magics_manager.registry["FlowAtMagics"]
    editor = editor_magics.editor_command(magics, [workflow_name, "--notebook", str(path)])
    assert isinstance(editor, GraphEditor)
    assert editor.draft.step("first").cell_id == cells[0].id

    editor.apply("first", {"retries": 4, "timeout_seconds": 90.0})
    line = "%%flowat step first --retries 4 --timeout 90s"
    assert nbformat.read(path, as_version=4).cells[0].source == f"{line}\nx = 1"
    assert "kernel" in editor.status.value and str(path) in editor.status.value
    published = shell.run_cell(f"%flowat publish {workflow_name}").result  # from the registry
    assert published.created and published.version.spec.step("first").retry.retries == 4
    assert published.version.spec.step("first").timeout_seconds == 90.0

    editor.apply("second", {"name": "later"})  # a rename follows too
    assert nbformat.read(path, as_version=4).cells[1].source.startswith("%%flowat step later\n")
    assert shell.run_cell("%flowat steps").result == ["first", "later"]


def test_diff_and_editor_commands_check_their_arguments(
    shell: InteractiveShell, temporal: str, workflow_name: str
) -> None:
    magics = shell.magics_manager.registry["FlowAtMagics"]
    with pytest.raises(NotFoundError, match="publish it first"):
        editor_magics.editor_command(magics, [workflow_name])
    assert shell.run_cell("%%flowat step a\nx = 1").success
    assert shell.run_cell(f"%flowat publish {workflow_name}").success
    assert shell.run_cell("%%flowat step a\nx = 2").success
    assert shell.run_cell(f"%flowat publish {workflow_name}").success
    diff = editor_magics.diff_command(magics, [workflow_name, "1", "2"])
    assert isinstance(diff, VersionDiff) and set(diff.diff.changed) == {"a"}
    with pytest.raises(FlowAtError, match="has no version 7"):
        editor_magics.diff_command(magics, [workflow_name, "1", "7"])
    with pytest.raises(FlowAtError, match="%flowat diff"):
        editor_magics.diff_command(magics, [workflow_name])
    assert len(flowat.versions(workflow_name)) == 2


def test_file_rewrite_touches_only_the_step_cell(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    nbformat.write(
        new_notebook(
            cells=[new_code_cell("print('%%flowat step a')"), new_code_cell("%%flowat step a\nx=1")]
        ),
        path,
    )
    assert rewrite_notebook_file(path, None, "%%flowat step a", "%%flowat step a --local")
    sources = [c.source for c in nbformat.read(path, as_version=4).cells]
    assert sources == ["print('%%flowat step a')", "%%flowat step a --local\nx=1"]
    assert not rewrite_notebook_file(path, None, "%%flowat step zzz", "%%flowat step b")
    script = frontend_script("%%flowat step a", "%%flowat step a '--when' \"x\"")
    assert '"%%flowat step a \'--when\' \\"x\\""' in script  # JSON-quoted, never spliced raw
