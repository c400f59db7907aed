"""Run reports: any run as an executed notebook, with no secret value in it."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import nbformat
import pytest

import flowat_kernel as flowat
from flowat_kernel import api
from flowat_kernel.cli.main import main as cli
from flowat_kernel.testing import cells


def _publish(workflow: str, *steps: str, parameters: str = "n = 3") -> None:
    flowat.publish(workflow, cells=cells(*steps, parameters=parameters))


def test_a_run_as_an_executed_notebook(temporal: str, workflow_name: str, tmp_path: Path) -> None:
    _publish(
        workflow_name,
        "%%flowat step make --retries 1 --local\nvalues = list(range(n))\nprint('made', n)",
        "%%flowat step total\ntotal = sum(values)",
    )
    run = flowat.run(workflow_name, parameters={"n": 4})
    path = tmp_path / "report.ipynb"
    notebook = api.report(run.run_id, path)
    assert nbformat.read(path, as_version=4) == notebook
    nbformat.validate(notebook)
    title, params, injected, make, total = notebook.cells
    assert title.cell_type == "markdown" and run.run_id in title.source
    assert params.metadata.tags == ["parameters"] and "n = 3" in params.source
    assert injected.metadata.tags == ["injected-parameters"] and "n = 4" in injected.source
    assert make.source.splitlines()[0] == "%%flowat step make --retries 1 --local"
    assert make.outputs[0].text == "made 4\n"
    assert make.outputs[1].data["application/json"] == {"values": [0, 1, 2, 3]}
    assert total.outputs[0].data["text/plain"] == "total = 6"
    record = {s.name: s for s in run.record.steps}
    for cell in (make, total):
        meta = cell.metadata.papermill
        step = record[cell.metadata.flowat["step"]]
        assert meta["status"] == "completed"
        assert meta["start_time"] == step.started_at.isoformat()
        assert meta["duration"] == step.duration_seconds
    meta = notebook.metadata.papermill
    assert meta["parameters"] == {"n": 4} and meta["default_parameters"] == {"n": 3}
    assert meta["duration"] == run.record.duration_seconds and meta["exception"] is None
    assert meta["output_path"] == str(path)
    assert notebook.metadata.flowat["status"] == "succeeded"


def test_a_failed_run_shows_its_error_like_papermill(temporal: str, workflow_name: str) -> None:
    _publish(
        workflow_name,
        "%%flowat step make\nvalues = list(range(n))",
        "%%flowat step broken --retries 0\nx = values[99]",
        "%%flowat step after\ny = x + 1",
    )
    run = flowat.run(workflow_name)
    assert run.status == "failed"
    notebook = api.report(run.run_id)
    broken, after = notebook.cells[-2:]
    assert broken.metadata.papermill["status"] == "failed"
    assert broken.outputs[-1].ename == "IndexError"
    assert after.metadata.papermill["status"] == "pending" and after.execution_count is None
    assert notebook.metadata.papermill["exception"] is True


def test_no_secret_value_in_a_report(temporal: str, workflow_name: str, tmp_path: Path) -> None:
    name = f"canary_{uuid.uuid4().hex[:8]}"
    canary = f"canary-{uuid.uuid4().hex}"
    flowat.set_secret(name, canary)
    _publish(
        workflow_name,
        "%%flowat step fetch\nimport sys\n"
        f"token = flowat.secret({name!r}).reveal()\n"
        "print('token is', token)\nprint('stderr', token, file=sys.stderr)\n"
        "header = {'Authorization': 'Bearer ' + token}",
        "%%flowat step use --retries 0\n"
        "if explode:\n    raise RuntimeError('bad ' + header['Authorization'])\n"
        "size = len(header['Authorization'])",
        parameters="explode = False",
    )
    for explode in (False, True):
        run = flowat.run(workflow_name, parameters={"explode": explode})
        assert run.status == ("failed" if explode else "succeeded")
        path = tmp_path / f"{explode}.ipynb"
        assert cli(["report", run.run_id, "-o", str(path)]) == 0
        text = path.read_text()
        assert canary not in text
        assert f"[secret:{name}]" in text  # masked, not dropped
        outputs = json.dumps([c.get("outputs") for c in json.loads(text)["cells"]])
        assert "token is [secret:" in outputs


def test_report_cli_errors_and_json(
    temporal: str, workflow_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["report", "no-such-run", "--json"]) == 2
    assert "no-such-run" in capsys.readouterr().err
    _publish(workflow_name, "%%flowat step one\nx = n")
    run = flowat.run(workflow_name)
    assert cli(["report", run.run_id, "-o", str(tmp_path / "missing" / "r.ipynb")]) == 2
    assert "does not exist" in capsys.readouterr().err
    out = tmp_path / "r.ipynb"
    assert cli(["report", run.run_id, "-o", str(out), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document == {
        "path": str(out),
        "workflow": workflow_name,
        "version": 1,
        "run_id": run.run_id,
    }


def test_a_report_shows_what_each_step_showed(temporal: str, workflow_name: str) -> None:
    """Outputs come from the step's display record: streams apart, results, then exports."""
    _publish(
        workflow_name,
        "%%flowat step show\nimport sys\nprint('out')\nprint('err', file=sys.stderr)\n"
        "value = n\nn * 2",
    )
    run = flowat.run(workflow_name, parameters={"n": 21})
    (show,) = [c for c in api.report(run.run_id).cells if c.metadata.get("flowat")]
    kinds = [(o.output_type, o.get("name")) for o in show.outputs]
    assert kinds == [
        ("stream", "stdout"),
        ("stream", "stderr"),
        ("execute_result", None),
        ("display_data", None),
    ]
    assert show.outputs[0].text == "out\n" and show.outputs[1].text == "err\n"
    assert show.outputs[2].data["text/plain"] == "42"
    assert show.outputs[3].data["application/json"] == {"value": 21}
