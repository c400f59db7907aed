"""``flowat serve`` as a real process: listens on loopback, answers with keys made by
``flowat keys create``, stops cleanly on SIGTERM, and never prints a key it did not make."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.server.helpers import local_key


def test_flowat_serve_process(flowat_home: Path, tmp_path: Path) -> None:
    key = local_key(["runs:read"])
    env = {**os.environ, "FLOWAT_HOME": str(flowat_home), "FLOWAT_TASK_QUEUE": "serve-test"}
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "flowat_kernel.cli.main", "serve", "--port", "0", "--json"],
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 60
        while not out.read_text().strip().endswith("}"):
            assert process.poll() is None, err.read_text()
            assert time.monotonic() < deadline, err.read_text()
            time.sleep(0.2)
        url = json.loads(out.read_text())["url"]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/v1")
        me = httpx.get(f"{url}/me", headers={"Authorization": f"Bearer {key}"})
        assert me.status_code == 200 and me.json()["scopes"] == ["runs:read"]
        assert (
            httpx.get(f"{url}/keys", headers={"Authorization": f"Bearer {key}"}).status_code == 403
        )
        assert httpx.get(f"{url}/openapi.json").json()["openapi"].startswith("3.")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, err.read_text()
    logs = out.read_text() + err.read_text()
    assert key not in logs and key.split("_", 2)[2] not in logs
    assert "FlowAt API listening on" in logs


def test_flowat_dev_serves_the_api(temporal: str) -> None:
    dev = subprocess.Popen(
        [sys.executable, "-m", "flowat_kernel.cli.main", "dev"],
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    lines: list[str] = []
    assert dev.stderr is not None
    try:
        while not any("Ctrl-C" in line for line in lines):
            line = dev.stderr.readline()
            assert line, "flowat dev exited early:\n" + "".join(lines)
            lines.append(line)
        url = next(line.split()[2] for line in lines if line.startswith("REST API:"))
        assert httpx.get(f"{url}/openapi.json").status_code == 200
        assert httpx.get(f"{url}/me").status_code == 401
    finally:
        dev.send_signal(signal.SIGINT)
        assert dev.wait(timeout=30) == 0
