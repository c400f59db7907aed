"""papermill's one attempt per cell is a limit of the run: the published spec is the notebook's.

Runs go through papermill's API (``--engine flowat``), the ``flowat`` command line
(``flowat run --notebook``, a real process) and the Python API, on the session's
Temporal dev server. Attempts are counted by the step code itself, in files.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from papermill.exceptions import PapermillExecutionError

import flowat_kernel as flowat

CLI = [sys.executable, "-m", "flowat_kernel.cli.main"]


def _notebook(tmp_path: Path, workflow: str, parameters: str, *steps: str) -> Path:
    notebook = new_notebook()
    notebook.metadata.update(
        {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    params = new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    notebook.cells = [
        new_code_cell("%load_ext flowat_kernel"),
        params,
        *(new_code_cell(s) for s in steps),
    ]
    path = tmp_path / f"{workflow}.ipynb"
    nbformat.write(notebook, path)
    return path


def _engine(path: Path, out: Path, **parameters: object) -> nbformat.NotebookNode:
    return papermill.execute_notebook(
        str(path), str(out), parameters=parameters, engine_name="flowat", progress_bar=False
    )


def test_the_engine_and_run_notebook_share_one_version(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    path = _notebook(
        tmp_path,
        workflow_name,
        "n = 3",
        "%%flowat step make\nvalues = list(range(n))",
        "%%flowat step total --retries 1\ntotal = sum(values)",
        "%%flowat step slow --timeout 30s\nbiggest = max(values)",
    )
    first = _engine(path, tmp_path / "a.ipynb", n=4)
    assert first.metadata.flowat["status"] == "succeeded"
    command = [*CLI, "run", "--notebook", str(path), "--json", "--worker", "always"]
    cli = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    by_cli = json.loads(cli.stdout)
    assert by_cli["status"] == "succeeded" and by_cli["outputs"]["total"]["total"] == 3
    second = _engine(path, tmp_path / "b.ipynb")
    assert [v.number for v in flowat.versions(workflow_name)] == [1]
    assert first.metadata.flowat["version"] == by_cli["version"] == 1
    assert second.metadata.flowat["version"] == 1
    published = flowat.versions(workflow_name)[0].spec
    steps = {s.name: s for s in published.steps}
    assert steps["make"].retry.retries == 2 and steps["make"].timeout_seconds == 600
    assert steps["total"].retry.retries == 1 and steps["slow"].timeout_seconds == 30


@pytest.mark.timeout(180)
def test_one_attempt_per_cell_unless_its_step_asks_for_more(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    count = (
        "\nwith open(counter + '{name}', 'a') as f:\n    f.write('x')\n"
        "raise RuntimeError('flaky {name}')"
    )
    path = _notebook(
        tmp_path,
        workflow_name,
        "counter = ''\nbatch = [1, 2]",
        # independent steps: all start together, and running steps finish after a failure
        "%%flowat step once" + count.format(name="once"),
        # --retries 2 is what a step gets by default: asked for all the same
        "%%flowat step asked --retries 2" + count.format(name="asked"),
        "%%flowat step each --foreach batch" + count.format(name="each"),
    )
    prefix = str(tmp_path / "attempts-")

    def attempts(name: str) -> int:
        return len(Path(prefix + name).read_text())

    with pytest.raises(PapermillExecutionError):
        _engine(path, tmp_path / "out.ipynb", counter=prefix)
    written = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    run = flowat.get_run(written.metadata.flowat["run_id"])
    steps = {s.name: s for s in run.record.steps}
    assert (attempts("once"), attempts("asked"), attempts("each")) == (1, 3, 2)  # 2 items
    assert (steps["once"].status, steps["once"].attempts) == ("failed", 1)
    assert (steps["asked"].status, steps["asked"].attempts) == ("failed", 3)
    # Its one attempt was its last: recorded failed when it failed, not at the run's end
    # (``asked`` was still retrying with backoff then).
    assert steps["once"].ended_at is not None and steps["asked"].ended_at is not None
    assert steps["once"].ended_at < steps["asked"].ended_at
    once = next(c for c in written.cells if c.source.startswith("%%flowat step once"))
    assert once.metadata.papermill["status"] == "failed"
    assert once.metadata.flowat["attempts"] == 1
    assert once.outputs[-1].ename == "RuntimeError" and once.outputs[-1].evalue == "flaky once"
    # The same version run as FlowAt runs it: the spec's own retries
    for name in ("once", "asked", "each"):
        Path(prefix + name).unlink()
    plain = flowat.run_notebook(path, parameters={"counter": prefix, "batch": [1]}, worker="always")
    assert plain.status == "failed" and plain.version == run.version
    assert (attempts("once"), attempts("asked"), attempts("each")) == (3, 3, 3)
    assert [v.number for v in flowat.versions(workflow_name)] == [1]
