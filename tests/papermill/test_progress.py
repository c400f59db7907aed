"""The output notebook under ``--engine flowat`` shows each cell as its step ends.

A notebook whose second step blocks until the test creates a file: while it blocks,
the output notebook on disk already holds the first cell's outputs and papermill
metadata, and the second cell is ``running``; then the run completes normally. A
papermill process killed while a step blocks leaves a notebook showing the cells that
completed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

WAIT = (
    "import os, time\n"
    "while not os.path.exists(gate):\n"
    "    time.sleep(0.05)\n"
    "print('second done')\n"
    "opened = 1"
)


def _notebook(tmp_path: Path, workflow: str, *, step_cells: bool) -> Path:
    notebook = new_notebook()
    notebook.metadata.update(
        {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    params = new_code_cell("gate = ''")
    params.metadata["tags"] = ["parameters"]
    first, second, third = "print('first done')\nvalue = 41", WAIT, "print(value + opened)"
    if step_cells:
        first = "%%flowat step first\n" + first
        second = "%%flowat step second\n" + second
        third = "%%flowat step third\n" + third
    notebook.cells = [
        new_markdown_cell("# progress"),
        params,
        new_code_cell(first),
        new_code_cell(second),
        new_code_cell(third),
    ]
    path = tmp_path / f"{workflow}.ipynb"
    nbformat.write(notebook, path)
    return path


def _read_when(
    out: Path, ready: Callable[[Any], bool], alive: Callable[[], bool], seconds: float = 90
) -> Any:
    """The output notebook once ``ready`` holds for it, while ``alive()`` (the run goes on).

    A file caught half-written is read again.
    """
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = nbformat.read(out, as_version=4)
        except Exception:  # not written yet, or caught mid-write
            last = None
        if last is not None and ready(last):
            return last
        if not alive():
            break
        time.sleep(0.05)
    pytest.fail(
        f"the output notebook never showed the first cell completed, the second running: {last}"
    )


def _first_done(notebook: Any) -> bool:
    """The first step ended and the second started (papermill writes each in turn)."""
    first, second = (c.metadata.get("papermill", {}) for c in notebook.cells[3:5])
    return (first.get("status"), second.get("status")) == ("completed", "running")


def _assert_in_progress(notebook: Any) -> None:
    """The first cell completed with its outputs; the second runs; the third waits."""
    cells = notebook.cells
    first, second, third = cells[3], cells[4], cells[5]  # cells[2]: injected parameters
    assert [o.get("text") for o in first.outputs if o.output_type == "stream"] == ["first done\n"]
    meta = first.metadata.papermill
    assert meta["exception"] is False and meta["start_time"] <= meta["end_time"]
    assert meta["duration"] >= 0 and first.execution_count == 3
    assert second.metadata.papermill["status"] == "running" and not second.outputs
    assert second.metadata.papermill["start_time"] is not None
    assert second.metadata.papermill["end_time"] is None
    assert third.metadata.papermill["status"] == "pending" and third.execution_count is None
    assert notebook.metadata.flowat["status"] == "running"
    assert notebook.metadata.papermill["exception"] is None


@pytest.mark.timeout(180)
@pytest.mark.parametrize("step_cells", [True, False], ids=["step-cells", "cells-as-steps"])
def test_each_cell_reaches_the_output_notebook_as_its_step_ends(
    temporal: str, workflow_name: str, tmp_path: Path, step_cells: bool
) -> None:
    path = _notebook(tmp_path, workflow_name, step_cells=step_cells)
    out, gate = tmp_path / "out.ipynb", tmp_path / "go"
    done: dict[str, Any] = {}

    def execute() -> None:
        try:
            done["result"] = papermill.execute_notebook(
                str(path),
                str(out),
                parameters={"gate": str(gate)},
                engine_name="flowat",
                progress_bar=False,
            )
        except BaseException as exc:  # shown by the test
            done["error"] = exc

    thread = threading.Thread(target=execute, daemon=True)
    thread.start()
    try:
        seen = _read_when(out, _first_done, thread.is_alive)
        _assert_in_progress(seen)
        time.sleep(0.5)  # still blocked: nothing more is written in the meantime
        assert nbformat.read(out, as_version=4) == seen
    finally:
        gate.touch()
        thread.join(120)
    assert "error" not in done, done.get("error")
    final = nbformat.read(out, as_version=4)
    assert final == done["result"]
    assert final.metadata.flowat["status"] == "succeeded"
    first, second, third = final.cells[3], final.cells[4], final.cells[5]
    assert first.metadata.papermill == seen.cells[3].metadata.papermill
    assert second.metadata.papermill["status"] == "completed"
    assert second.outputs[0].text == "second done\n"
    assert third.metadata.papermill["status"] == "completed"
    assert "42\n" in [o.get("text") for o in third.outputs]
    assert [c.execution_count for c in final.cells[1:]] == [1, 2, 3, 4, 5]


@pytest.mark.timeout(240)
def test_a_killed_run_leaves_the_cells_that_completed(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    path = _notebook(tmp_path, workflow_name, step_cells=True)
    out, gate = tmp_path / "out.ipynb", tmp_path / "never"
    command = [
        str(Path(sys.executable).with_name("papermill")),
        "--no-progress-bar",
        "--engine",
        "flowat",
        str(path),
        str(out),
        "-p",
        "gate",
        str(gate),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
        start_new_session=True,
    )
    try:
        seen = _read_when(out, _first_done, lambda: process.poll() is None)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate(timeout=30)
    left = nbformat.read(out, as_version=4)
    assert left == seen, stderr.decode(errors="replace")[-2000:]
    _assert_in_progress(left)
