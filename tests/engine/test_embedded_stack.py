"""The embedded default: dev server lifecycle and persistence, workers, ``flowat dev``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.compiler import Cell
from flowat_kernel.config import settings
from flowat_kernel.engine import devserver
from flowat_kernel.runtime import get_runtime, reset_runtime

CLI = [sys.executable, "-m", "flowat_kernel.cli.main"]


def test_dev_server_persists_histories_across_restarts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workflow_name: str
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("FLOWAT_HOME", str(home))
    monkeypatch.setenv("FLOWAT_TASK_QUEUE", "persist")
    reset_runtime()
    try:
        flowat.publish(workflow_name, cells=[Cell("%%flowat step a\nx = 41 + 1", 1)])
        run = flowat.run(workflow_name)
        assert run.status == "succeeded"
        first = devserver.status(home / "temporal")
        assert first is not None and (home / "temporal" / "temporal.db").is_file()
        reset_runtime()
        assert devserver.stop(home / "temporal") is True
        assert devserver.status(home / "temporal") is None
        again, started = devserver.ensure_running(home / "temporal")
        assert started is True and again.pid != first.pid
        assert devserver.ensure_running(home / "temporal") == (again, False)  # reused

        runtime = get_runtime()

        async def describe() -> str:
            client = await runtime.client()
            handle = client.get_workflow_handle(run.record.temporal_workflow_id)
            return (await handle.describe()).status.name  # type: ignore[union-attr]

        assert runtime.call(describe()) == "COMPLETED"
    finally:
        reset_runtime()
        devserver.stop(home / "temporal")


def test_a_run_executes_in_the_process_that_started_it_even_with_a_worker_running(
    temporal: str, workflow_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17: runs execute where the user expects, not in whichever process polls."""
    flowat.publish(
        workflow_name,
        cells=[
            Cell(
                "%%flowat step a\nimport os\norigin = os.environ.get('FLOWAT_TEST_ORIGIN')\n"
                "cwd = os.getcwd()",
                1,
            )
        ],
    )
    worker = subprocess.Popen(
        [*CLI, "worker"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "FLOWAT_TEST_ORIGIN": "the shared worker"},
        cwd="/",
    )
    monkeypatch.setenv("FLOWAT_TEST_ORIGIN", "this process")
    try:
        runtime = get_runtime()
        deadline = time.monotonic() + 30
        while not runtime.store.live_workers(temporal):  # registered in FlowAt's store
            assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
            assert time.monotonic() < deadline, "the worker never registered"
            time.sleep(0.2)
        here = flowat.run(workflow_name)  # worker="auto": this process, its folder
        assert here.status == "succeeded", here.error
        assert here.outputs["a"]["origin"] == "this process"  # its environment
        assert here.outputs["a"]["cwd"] == os.getcwd()  # and its folder
        assert here.record.task_queue == runtime.local_queue
        assert "the process that started it" in here.record.executed_by
        assert runtime.worker_running is False  # no worker on the shared queue here

        shared = flowat.run(workflow_name, worker="shared")  # the deployed worker takes it
        assert shared.status == "succeeded", shared.error
        assert shared.outputs["a"]["origin"] == "the shared worker"
        assert shared.outputs["a"]["cwd"] == "/"
        assert shared.record.task_queue == temporal
        assert runtime.worker_running is False  # the live registered worker was used
    finally:
        worker.send_signal(signal.SIGINT)
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "polling task queue" in err
    assert get_runtime().store.live_workers(temporal) == []  # it left the registry


def test_run_without_workers_runs_one_in_process(
    temporal: str, workflow_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWAT_TEST_ORIGIN", f"process {os.getpid()}")
    flowat.publish(
        workflow_name,
        cells=[Cell("%%flowat step a\nimport os\norigin = os.environ['FLOWAT_TEST_ORIGIN']", 1)],
    )
    run = flowat.run(workflow_name)
    assert run.status == "succeeded"
    assert run.outputs["a"]["origin"] == f"process {os.getpid()}"
    assert get_runtime().local_worker_running is True


def test_flowat_dev_prints_the_stack_and_leaves_a_shared_server_running(temporal: str) -> None:
    dev = subprocess.Popen([*CLI, "dev"], stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    lines: list[str] = []
    assert dev.stderr is not None
    try:
        while not any("Ctrl-C" in line for line in lines):
            line = dev.stderr.readline()
            assert line, "flowat dev exited early:\n" + "".join(lines)
            lines.append(line)
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(timeout=30)
    text = "".join(lines)
    server = devserver.status(settings().temporal_dir)
    assert server is not None, "flowat dev must not stop a server it did not start"
    assert f"Temporal dev server: {server.address} (already running)" in text
    assert f"Temporal Web UI:     {server.ui_url}" in text
    assert "Worker: polling task queue" in text
    assert dev.returncode == 0
