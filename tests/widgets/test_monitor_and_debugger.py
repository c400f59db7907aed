"""Run monitor, debugger and resume against the real Temporal dev server."""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from nbformat.v4 import new_code_cell, new_notebook

import flowat_kernel as flowat
from flowat_kernel.compiler import Cell
from flowat_kernel.debugging import recorded_inputs
from flowat_kernel.errors import NotFoundError
from flowat_kernel.notebook import editor_magics
from flowat_kernel.widgets.monitor import RunMonitor, step_states

LOAD = (
    "%%flowat step load\n"
    "import pandas as pd\n"
    "with open(counter, 'a') as _fh:\n"
    "    _fh.write('load\\n')\n"
    "frame = pd.DataFrame({'v': list(range(rows)), 'label': [f'r{i}' for i in range(rows)]})\n"
    "limit = 2"
)
BROKEN = (
    "%%flowat step compute --retries 0\n"
    "if len(frame) > limit:\n"
    "    raise ValueError(f'{len(frame)} rows is more than {limit}')\n"
    "total = int(frame['v'].sum())"
)
FIXED = "%%flowat step compute --retries 0\ntotal = int(frame['v'].sum()) + limit"


def run_cell(shell: InteractiveShell, source: str, cell_id: str | None = None) -> object:
    result = shell.run_cell(source, cell_id=cell_id)
    if result.error_in_exec is not None:
        raise result.error_in_exec
    if result.error_before_exec is not None:
        raise result.error_before_exec
    return result.result


def magics_of(shell: InteractiveShell) -> object:
    return shell.magics_manager.registry["FlowAtMagics"]


def test_debug_loads_the_recorded_inputs_and_resume_reuses_what_succeeded(
    shell: InteractiveShell, temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    counter = tmp_path / "counter.txt"
    path = tmp_path / "nb.ipynb"
    cells = [
        new_code_cell(f"counter = {str(counter)!r}\nrows = 5", metadata={"tags": ["parameters"]}),
        new_code_cell(LOAD),
        new_code_cell(BROKEN),
    ]
    nbformat.write(new_notebook(cells=cells), path)
    shell.user_ns["__session__"] = str(path)
    run_cell(shell, cells[0].source, cells[0].id)
    run_cell(shell, LOAD, cells[1].id)
    with pytest.raises(ValueError, match="5 rows"):
        run_cell(shell, BROKEN, cells[2].id)
    run_cell(shell, f"%flowat publish {workflow_name}")
    failed = flowat.run(workflow_name, worker="always")
    assert failed.status == "failed"
    assert counter.read_text().count("load") == 2  # the kernel's cell, then the worker

    # the monitor of the failed run, from its real records
    monitor = RunMonitor(failed.run_id, follow=False)
    assert monitor.states == {"load": "succeeded", "compute": "failed"}
    classes = {n.id: n.classes for n in monitor.view.nodes()}
    assert "state-failed" in classes["compute"] and "state-succeeded" in classes["load"]
    details = monitor.details_html("compute")
    assert "ValueError" in details and "5 rows is more than 2" in details
    assert "<table" in details and "r4" in details  # the data frame input, previewed
    assert "attempts 1" in details
    # times to the second, said to be UTC (no microseconds, no "+00:00")
    assert re.search(r"started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC ·", details), details
    assert "+00:00" not in details
    assert "<table" in monitor.details_html("load")  # its output

    # the debugger: exactly what compute received
    for name in ("frame", "limit"):
        shell.user_ns.pop(name, None)
    found = editor_magics.debug_command(magics_of(shell), [failed.run_id, "compute"])
    recorded = recorded_inputs(failed.run_id, "compute")
    assert sorted(found.values) == ["frame", "limit"]
    expected = pd.DataFrame({"v": list(range(5)), "label": [f"r{i}" for i in range(5)]})
    pd.testing.assert_frame_equal(shell.user_ns["frame"], expected)
    pd.testing.assert_frame_equal(recorded.values["frame"], expected)
    assert shell.user_ns["limit"] == 2 == recorded.values["limit"]
    assert found.task.inputs["frame"].ref is not None  # it came from the artifact store
    with pytest.raises(NotFoundError, match="never ran"):
        recorded_inputs(failed.run_id, "nope")

    # fix the cell with the loaded inputs, then resume on the new version
    run_cell(shell, FIXED, cells[2].id)
    assert shell.user_ns["total"] == 12
    before = len(flowat.versions(workflow_name))
    resumed = editor_magics.resume_command(magics_of(shell), [failed.run_id])
    assert resumed.status == "succeeded", resumed.error
    assert resumed.outputs["compute"]["total"] == 12
    assert (
        resumed.version == failed.version + 1 and len(flowat.versions(workflow_name)) == before + 1
    )
    assert counter.read_text().count("load") == 2  # load was not run again
    pd.testing.assert_frame_equal(resumed.outputs["load"]["frame"], expected)
    reused = RunMonitor(resumed.run_id, follow=False).details_html("load")
    assert "reused: its outputs come from the run this one re-runs" in reused
    assert "attempts 0" not in reused


def test_the_monitor_follows_a_live_run_until_it_ends(temporal: str, workflow_name: str) -> None:
    flowat.publish(
        workflow_name,
        cells=[
            Cell("%%flowat step first\nx = 1", 1),
            Cell("%%flowat step slow\nimport time\ntime.sleep(2)\ny = x + 1", 2),
            Cell("%%flowat step last\nz = y + 1", 3),
        ],
    )
    started = flowat.run(workflow_name, wait=False, worker="always")
    monitor = RunMonitor(started.run_id, interval=0.2)
    seen: list[dict[str, str]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        seen.append(dict(monitor.states))
        if monitor.record.finished and not monitor.polling:
            break
        time.sleep(0.1)
    assert monitor.record.status == "succeeded"
    assert not monitor.polling  # the thread stopped by itself
    slow = [s["slow"] for s in seen]
    assert "running" in slow and slow[-1] == "succeeded"
    assert slow.index("running") < slow.index("succeeded")
    assert any(s["last"] == "pending" for s in seen)
    assert step_states(monitor.spec, monitor.record) == dict.fromkeys(
        ("first", "slow", "last"), "succeeded"
    )
    mirror = monitor.view.mirror.value
    assert "state-succeeded" in mirror and "state-running" not in mirror
