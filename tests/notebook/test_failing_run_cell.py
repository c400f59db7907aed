"""A failed ``%flowat run`` fails its cell in a real kernel, and the error it shows starts
at the user's code: the failing step's own traceback, none of FlowAt's frames. Real
ipykernel, the session's Temporal dev server and store."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.testing import cells
from tests.notebook.test_secret_masking_kernel import ANSI, Kernel, kernel_env

BROKEN = "%%flowat step broken --retries 0\nvalue = n * 2\ncheck(value)"
WIDGET = "application/vnd.jupyter.widget-view+json"
HELPER = "%%flowat step helper\ndef check(v):\n    raise KeyError(f'no row {v}')"


@pytest.fixture(scope="module")
def kernel(flowat_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    env = kernel_env(flowat_home, tmp_path_factory.mktemp("failing-cell-ipython"))
    env["FLOWAT_TASK_QUEUE"] = f"cell-{uuid.uuid4().hex[:10]}"
    started = Kernel(env, cwd=tmp_path_factory.mktemp("failing-cell-cwd"))
    try:
        started.ok("%load_ext flowat_kernel")
        yield started
    finally:
        started.close()


def test_a_failed_run_fails_its_cell_with_the_users_traceback(kernel: Kernel) -> None:
    workflow = f"cellfail_{uuid.uuid4().hex[:8]}"
    flowat.publish(workflow, cells=cells(HELPER, BROKEN, parameters="n = 1"))
    failed = kernel.run(f"%flowat run {workflow} -p n=21")
    content = failed.reply["content"]
    assert content["status"] == "error", failed.texts()
    assert content["ename"] == "CellRunFailed"
    assert "at step broken" in content["evalue"] and "no row 42" in content["evalue"]
    trace = [ANSI.sub("", line) for line in content["traceback"]]
    text = "\n".join(trace)
    # it starts with what failed, then the user's own code: no FlowAt or IPython frames
    assert trace[0].startswith("CellRunFailed: run ") and workflow in trace[0]
    assert "check(value)" in text and "raise KeyError(f'no row {v}')" in text
    assert "KeyError: 'no row 42'" in text
    for internal in ("flowat_kernel", "IPython", "site-packages", "run_line_magic"):
        assert internal not in text, (internal, text)
    # the worker in the kernel does not print the step's failure with FlowAt's frames too
    streams = failed.stream("stderr") + failed.stream("stdout")
    assert "Completing activity" not in streams and "flowat_kernel" not in streams, streams
    # the progress display links to the run's view, and the cell shows the error once
    (error,) = failed.of_type("error")
    assert error["ename"] == "CellRunFailed"
    html = " ".join(str(d["data"].get("text/html", "")) for d in failed.of_type("display_data"))
    run_id = re.search(r"href='#flowat-run=([0-9a-f]{32})'", html)
    assert run_id, html
    assert flowat.get_run(run_id.group(1)).status == "failed"
    # the run is still at hand
    assert kernel.evaluate("__import__('sys').last_value.run.status") == "failed"


def test_a_failed_run_with_its_graph_fails_its_cell_too(kernel: Kernel) -> None:
    workflow = f"cellgraph_{uuid.uuid4().hex[:8]}"
    flowat.publish(workflow, cells=cells(HELPER, BROKEN, parameters="n = 1"))
    failed = kernel.run(f"%flowat run {workflow} -p n=4 --graph")
    content = failed.reply["content"]
    assert content["status"] == "error", failed.texts()
    assert content["ename"] == "CellRunFailed" and "no row 8" in content["evalue"]
    widgets = [d for d in failed.of_type("display_data") if WIDGET in d["data"]]
    assert widgets, "the run's graph is shown before the cell fails"
    fine = f"cellgraphok_{uuid.uuid4().hex[:8]}"
    flowat.publish(fine, cells=cells("%%flowat step fine\nout = n + 1", parameters="n = 1"))
    done = kernel.ok(f"run = %flowat run {fine} -p n=1 --graph\nrun.status")
    assert done.result() == "'succeeded'"


def test_a_succeeded_run_still_returns_the_run(kernel: Kernel) -> None:
    workflow = f"cellok_{uuid.uuid4().hex[:8]}"
    flowat.publish(workflow, cells=cells("%%flowat step fine\nout = n + 1", parameters="n = 1"))
    done = kernel.ok(f"run = %flowat run {workflow} -p n=2\nrun.status, run.outputs['fine']")
    assert done.result() == "('succeeded', {'out': 3})"


def test_a_wrong_command_is_still_a_one_line_usage_error(kernel: Kernel) -> None:
    wrong = kernel.run("%flowat run no_such_workflow_xyz")
    content = wrong.reply["content"]
    assert content["status"] == "error" and content["ename"] == "UsageError"
    assert "no workflow named 'no_such_workflow_xyz'" in content["evalue"]
