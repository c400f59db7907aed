"""Every notebook in ``notebooks/``: under nbval, under plain papermill, under the engine.

- nbval re-executes each notebook in a real kernel and compares the outputs it was
  saved with (run ids, timings, ports and timestamps sanitised by ``sanitize.cfg``;
  cells tagged ``nbval-ignore-output`` are only checked to run). A notebook saved
  without outputs (the quickstart) is only checked to run (``--nbval-lax``).
- plain ``papermill`` runs every cell in a kernel, the stand-ins included.
- ``papermill --engine flowat`` runs only the steps, on Temporal; the stand-ins come
  from the notebook's ``setup`` cells run in this process (see ``examples.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import flowat_kernel as flowat
from tests.notebooks.examples import (
    FOLDER,
    NOTEBOOKS,
    ROOT,
    SANITIZE,
    has_stored_outputs,
    ids,
    prepared,
    step_cells,
    tagged,
)


def test_there_are_example_notebooks() -> None:
    names = {p.stem for p in NOTEBOOKS}
    assert {
        "quickstart",
        "api_to_duckdb",
        "llm_summary",
        "subworkflow",
        "branching_fanout",
        "webhook_triggered",
        "scheduled_digest",
    } <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_explains_itself(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")
    assert step_cells(notebook), "an example notebook has at least one %%flowat step cell"
    assert len(tagged(notebook, "parameters")) == 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_nbval(path: Path, temporal: str) -> None:
    mode = "--nbval" if has_stored_outputs(path) else "--nbval-lax"
    command = [
        sys.executable,
        "-m",
        "pytest",
        mode,
        str(path),
        "--nbval-sanitize-with",
        str(SANITIZE),
        "--nbval-cell-timeout",
        "180",
        "-p",
        "no:cacheprovider",
        "-n0",  # a notebook's cells run in order, in one kernel: never spread over workers
        "-q",
    ]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=dict(os.environ)
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


def _papermill(path: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "papermill",
        str(path),
        str(out),
        "--cwd",
        str(FOLDER),
        "--no-progress-bar",
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def _no_secret_values(text: str) -> None:
    for info in flowat.list_secrets():
        assert flowat.secret(info.name).reveal() not in text, f"secret {info.name} leaked"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_plain_papermill(path: Path, temporal: str, tmp_path: Path) -> None:
    out = tmp_path / path.name
    result = _papermill(path, out)
    assert result.returncode == 0, result.stderr[-4000:]
    notebook = nbformat.read(out, as_version=4)
    assert notebook.metadata.papermill["exception"] is None
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.metadata.papermill["status"] == "completed"
            assert not [o for o in cell.outputs if o.output_type == "error"]
    _no_secret_values(out.read_text())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_papermill_flowat_engine(path: Path, temporal: str, tmp_path: Path) -> None:
    out = tmp_path / path.name
    with prepared(path) as parameters:
        pairs = [part for k, v in parameters.items() for part in ("-p", k, str(v))]
        result = _papermill(path, out, "--engine", "flowat", *pairs)
    assert result.returncode == 0, result.stderr[-4000:]
    notebook = nbformat.read(out, as_version=4)
    run = flowat.get_run(notebook.metadata.flowat["run_id"])
    assert run.status == "succeeded"
    assert run.record.trigger == "papermill"
    steps = step_cells(notebook)
    assert [c.metadata.flowat["step"] for c in steps] == [s.name for s in run.record.steps]
    for cell in steps:
        assert cell.metadata.papermill["status"] == "completed"
        assert cell.metadata.papermill["duration"] is not None
        assert cell.execution_count is not None
    exported = {
        name
        for cell in steps
        for output in cell.outputs
        if output.output_type == "display_data"
        for name in output.metadata["flowat"]["exports"]
    }
    assert exported == {n for values in run.to_json()["outputs"].values() for n in values}
    others = [
        c
        for c in notebook.cells
        if c.cell_type == "code"
        and c not in steps
        and "parameters" not in c.metadata.get("tags", [])
    ]
    for cell in others:
        if "injected-parameters" in cell.metadata.get("tags", []):
            assert cell.metadata.papermill["status"] == "completed"
        else:
            assert cell.metadata.papermill["status"] == "skipped" and not cell.outputs
    text = out.read_text()
    _no_secret_values(text)
    assert set(json.loads(text)["metadata"]["papermill"]["parameters"]) == set(parameters)
