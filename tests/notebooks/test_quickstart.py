"""``notebooks/quickstart.ipynb`` executed in a real Jupyter kernel, and from the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

import flowat_kernel as flowat

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"


def test_quickstart_runs_in_a_kernel(temporal: str) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    outputs = {
        cell.source.splitlines()[0]: cell.outputs
        for cell in notebook.cells
        if cell.cell_type == "code" and cell.source
    }
    last = outputs['run.outputs["report"]["report"]["rows"]']
    assert last[0]["data"]["text/plain"] == "500"
    status = outputs["run = %flowat run quickstart -p rows=500"]
    assert status[-1]["data"]["text/plain"] == "'succeeded'"


def test_quickstart_shape_and_cli_run(temporal: str) -> None:
    spec = flowat.compile_workflow("quickstart", notebook=NOTEBOOK)
    names = [s.name for s in spec.steps]
    assert len(names) >= 4
    upstream = spec.upstream_map()
    assert any(len(upstream[n]) >= 2 for n in names), "the quickstart needs a fan-in"
    assert [i.name for i in spec.inputs] == ["rows", "seed", "threshold"]
    cli = [sys.executable, "-m", "flowat_kernel.cli.main"]
    subprocess.run(
        [*cli, "publish", str(NOTEBOOK), "--name", "quickstart"], check=True, capture_output=True
    )
    result = subprocess.run(
        [*cli, "run", "quickstart", "-p", "rows=2000", "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    document = json.loads(result.stdout)
    assert document["status"] == "succeeded"
    assert document["outputs"]["report"]["report"]["rows"] == 2000
    assert document["outputs"]["generate"]["readings"]["format"] == "parquet"
