"""A run placed here runs its steps in the directory it started from (issue 17).

The process's working directory may change while the run goes on: papermill writes
the output notebook from inside its own ``chdir`` to the input's folder while the
steps of a ``--cwd`` run execute. Steps must not see that. Real Temporal dev server.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.engine.run_directories import KEPT, directory_of, remember
from flowat_kernel.testing import cells


@pytest.mark.timeout(120)
def test_steps_run_where_the_run_started_though_the_process_moved(
    temporal: str, workflow_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, moved, gate = tmp_path / "started", tmp_path / "moved", tmp_path / "gate"
    started.mkdir()
    moved.mkdir()
    (started / "check.txt").write_text("here", encoding="utf-8")
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step first\n"
            "import os, pathlib, time\n"
            f"while not pathlib.Path({str(gate)!r}).exists():\n"
            "    time.sleep(0.02)\n"
            "first_cwd = os.getcwd()",
            "%%flowat step second\n"
            "import os\n"
            "second_cwd = os.getcwd()\n"
            "content = open('check.txt').read()",
        ),
    )
    monkeypatch.chdir(started)
    queued = flowat.run(workflow_name, wait=False, worker="always")
    os.chdir(moved)  # the process moves on while the run goes on
    gate.touch()
    run = flowat.wait(queued.run_id, timeout=90)
    assert run.status == "succeeded", run.record.steps
    assert run.outputs["first"]["first_cwd"] == str(started)
    assert run.outputs["second"]["second_cwd"] == str(started)
    assert run.outputs["second"]["content"] == "here"


def test_a_run_not_started_here_takes_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert directory_of("never-started-here") == str(tmp_path)
    assert directory_of(None) == str(tmp_path)


def test_only_the_newest_runs_are_kept() -> None:
    remember("oldest", "/a")
    for number in range(KEPT):
        remember(f"run-{number}", "/b")
    assert directory_of(f"run-{KEPT - 1}") == "/b"
    assert directory_of("oldest") == os.getcwd()
