"""The ``flowat`` command line, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parents[2]


def flowat(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "flowat_kernel.cli.main", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"flowat {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
        )
    return result


@pytest.fixture
def notebook(tmp_path: Path) -> Path:
    path = tmp_path / "nb.ipynb"
    nbformat.write(
        new_notebook(
            cells=[
                new_code_cell("factor = 3\nlabel = 'x'", metadata={"tags": ["parameters"]}),
                new_code_cell("%%flowat step base\nimport numpy as np\nbase = np.arange(4)"),
                new_code_cell("%%flowat step scaled\nscaled = [int(v) * factor for v in base]"),
                new_code_cell("%%flowat step named --local\nnamed = f'{label}:{sum(scaled)}'"),
            ]
        ),
        path,
    )
    return path


def test_publish_then_run_json(temporal: str, workflow_name: str, notebook: Path) -> None:
    published = json.loads(
        flowat("publish", str(notebook), "--name", workflow_name, "--json").stdout
    )
    assert published["version"] == 1 and published["created"] is True
    assert published["steps"] == ["base", "scaled", "named"]
    again = json.loads(flowat("publish", str(notebook), "--name", workflow_name, "--json").stdout)
    assert again["version"] == 1 and again["created"] is False

    result = flowat("run", workflow_name, "-p", "factor=10", "-p", "label=y", "--json")
    document = json.loads(result.stdout)  # standard output holds only the JSON document
    assert set(document) >= {"workflow", "version", "run_id", "status", "outputs", "steps"}
    assert document["status"] == "succeeded"
    assert document["workflow"] == workflow_name and document["version"] == 1
    assert document["outputs"]["scaled"] == {"scaled": [0, 10, 20, 30]}
    assert document["outputs"]["named"] == {"named": "y:60"}
    base = document["outputs"]["base"]["base"]
    assert base["format"] == "npy" and base["type"] == "ndarray 4"
    assert [s["name"] for s in document["steps"]] == ["base", "scaled", "named"]
    assert all(s["status"] == "succeeded" and s["duration_seconds"] >= 0 for s in document["steps"])
    assert "scaled: succeeded" in result.stderr  # progress goes to standard error

    runs = json.loads(flowat("runs", workflow_name, "--json").stdout)
    assert [r["run_id"] for r in runs] == [document["run_id"]]
    versions = json.loads(flowat("versions", workflow_name, "--json").stdout)
    assert [v["number"] for v in versions] == [1]
    assert "1" in flowat("versions", workflow_name).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "factor=ten"], "parameter factor='ten' is not a valid int"),
        (
            ["-p", "missing=1"],
            "unknown parameter missing; this workflow's parameters are: factor (int",
        ),
        (["-p", "novalue"], "must look like key=value"),
        (["--version", "9"], "has no version 9; versions are 1 to 1"),
    ],
)
def test_bad_run_arguments_are_one_line_errors(
    temporal: str, workflow_name: str, notebook: Path, args: list[str], message: str
) -> None:
    flowat("publish", str(notebook), "--name", workflow_name)
    result = flowat("run", workflow_name, *args, "--json", check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(result.stdout)["error"]["type"] in {"ParameterError", "NotFoundError"}


def test_failed_run_exits_one_with_the_step_error(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    path = tmp_path / "fail.ipynb"
    nbformat.write(
        new_notebook(
            cells=[new_code_cell("%%flowat step boom --retries 0\nx = 1\nraise KeyError('gone')")]
        ),
        path,
    )
    flowat("publish", str(path), "--name", workflow_name)
    result = flowat("run", workflow_name, "--json", check=False)
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["status"] == "failed"
    assert document["error"]["message"] == "step 'boom' failed at cell line 3: KeyError: 'gone'"
    assert document["steps"][0]["status"] == "failed"


def test_compile_errors_and_missing_things(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("%%flowat step a --after b\nx = y")]), path)
    result = flowat("publish", str(path), "--name", workflow_name, check=False)
    assert result.returncode == 2
    assert "reads 'y', which no earlier step defines" in result.stderr
    assert "--after names unknown step 'b'" not in result.stderr or "cell 1" in result.stderr
    missing = flowat("publish", str(tmp_path / "nope.ipynb"), "--name", workflow_name, check=False)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    unknown = flowat("run", "never_published_workflow", check=False)
    assert unknown.returncode == 2 and "publish it first" in unknown.stderr


def test_schema_and_server_status(temporal: str) -> None:
    schema = json.loads(flowat("schema").stdout)
    assert schema["title"] == "WorkflowSpec" and "steps" in schema["properties"]
    status = json.loads(flowat("server", "status", "--json").stdout)
    assert status["running"] is True and status["address"].startswith("127.0.0.1:")
