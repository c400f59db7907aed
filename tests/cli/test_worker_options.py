"""``flowat worker`` options: bad values are refused with what to write, before polling."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

CLI = (sys.executable, "-m", "flowat_kernel.cli.main")


def _worker(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "worker", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "FLOWAT_HOME": str(home)},
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--queue", "a b"], "--queue 'a b': name a task queue"),
        (["--queue", "ok,-bad"], "--queue '-bad': name a task queue"),
        (["--max-concurrent-steps", "0"], "--max-concurrent-steps 0: give a number from 1"),
        (["--metrics-port", "70000"], "--metrics-port 70000: give a port from 0 to 65535"),
        (["--name", " "], "--name: give a non-empty name"),
    ],
)
def test_bad_worker_options_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = _worker(tmp_path / "home", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_metrics_port_in_use_is_refused_before_polling(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _worker(tmp_path / "home", "--metrics-port", str(port))
    assert result.returncode == 2, result.stderr
    assert f"--metrics-port {port}: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "polling" not in result.stderr


def test_flowat_publish_queue_sets_the_workflows_default_queue(tmp_path: Path) -> None:
    import json

    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from flowat_kernel.compiler import compile_notebook_file

    path = tmp_path / "nb.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("%%flowat step a\nx = 1")]), path)
    result = subprocess.run(
        [*CLI, "publish", str(path), "--name", "w", "--queue", "eu-west", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "FLOWAT_HOME": str(tmp_path / "home")},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    compiled = compile_notebook_file(path, "w")
    routed = compiled.model_validate({**compiled.model_dump(), "queue": "eu-west"})
    assert json.loads(result.stdout)["spec_hash"] == routed.content_hash()
    assert routed.content_hash() != compiled.content_hash()
