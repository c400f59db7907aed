"""Faults on the real stack: a worker killed in the middle of a step, a Temporal restart.

Processes are started and killed by the tests: a ``flowat worker`` subprocess gets
SIGKILL while a step runs; the embedded Temporal dev server is stopped and started
again in the middle of a run. A counting HTTP server on loopback records what the steps
did to the outside world.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.compiler import Cell
from flowat_kernel.engine import devserver
from flowat_kernel.runtime import reset_runtime


class Ledger:
    """What the counting server saw: every request, and effects applied once per key."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.effects: dict[str, int] = {}

    def record(self, path: str, key: str) -> bool:
        with self.lock:
            self.requests.append((path, key))
            if path == "/charge":
                if key in self.effects:
                    return False
                self.effects[key] = 1
            return True

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for p, _ in self.requests if p == path)


@pytest.fixture
def ledger() -> Iterator[tuple[Ledger, str]]:
    book = Ledger()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            applied = book.record(self.path, self.headers.get("Idempotency-Key", ""))
            body = json.dumps({"applied": applied}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield book, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _post(base: str) -> str:
    return (
        "import json, urllib.request\n"
        "def post(path, key=''):\n"
        f"    request = urllib.request.Request({base!r} + path, data=b'{{}}', method='POST',\n"
        "        headers={'Idempotency-Key': key})\n"
        "    with urllib.request.urlopen(request, timeout=10) as response:\n"
        "        return json.load(response)\n"
    )


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "flowat_kernel.cli.main", "worker"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _until(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_worker_killed_mid_step_resumes_on_a_new_worker_with_one_effect(
    temporal: str,
    workflow_name: str,
    ledger: tuple[Ledger, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    book, base = ledger
    monkeypatch.setenv("FLOWAT_HEARTBEAT_TIMEOUT", "2")
    reset_runtime()
    flowat.publish(
        workflow_name,
        cells=[
            Cell("%%flowat step prepare\n" + _post(base) + "post('/prepare')\namount = 42", 1),
            Cell(
                "%%flowat step charge\nimport time\n"
                "receipt = post('/charge', flowat.idempotency_key())\n"
                "post('/charged')\n"
                "if flowat.current_step().attempt == 1:\n"
                "    time.sleep(120)  # the worker dies here\n"
                "charged = amount",
                2,
            ),
            Cell("%%flowat step report\npost('/report')\nreport = {'charged': charged}", 3),
        ],
    )
    env = {**os.environ}
    log = tmp_path / "worker.log"
    first = _worker(env, log)
    try:
        queued = flowat.run(workflow_name, wait=False, worker="never")
        _until(lambda: book.count("/charged") == 1, 60, "the charge step to start")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert flowat.get_run(queued.run_id).status == "running"
        second = _worker(env, log)
        try:
            run = flowat.wait(queued.run_id, timeout=90)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()

    assert run.status == "succeeded", (run.error, log.read_text()[-3000:])
    assert run.outputs["report"]["report"] == {"charged": 42}
    # The completed step did not run again; the interrupted one retried once.
    assert book.count("/prepare") == 1
    steps = {s.name: s for s in run.record.steps}
    assert steps["prepare"].attempts == 1
    assert steps["charge"].attempts == 2
    assert book.count("/report") == 1
    # Both attempts of the charge used the same idempotency key: one effect.
    keys = [key for path, key in book.requests if path == "/charge"]
    assert len(keys) == 2 and keys[0] == keys[1] == f"flowat:{run.run_id}:charge"
    assert book.effects == {keys[0]: 1}


def test_temporal_restarted_mid_run_resumes_and_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workflow_name: str, flowat_home: Path
) -> None:
    """A Temporal server of its own (the session's stays up): stop it during a step."""
    home = tmp_path / "home"
    monkeypatch.setenv("FLOWAT_HOME", str(home))
    monkeypatch.setenv("FLOWAT_HEARTBEAT_TIMEOUT", "2")
    reset_runtime()
    folder = home / "temporal"
    server, _ = devserver.ensure_running(folder)
    marker = tmp_path / "step-started"
    try:
        flowat.publish(
            workflow_name,
            cells=[
                Cell(
                    "%%flowat step slow\nimport pathlib, time\n"
                    f"pathlib.Path({str(marker)!r}).write_text('x')\n"
                    "time.sleep(3)\nvalue = 1",
                    1,
                ),
                Cell("%%flowat step after\nresult = value + 1", 2),
            ],
        )
        queued = flowat.run(workflow_name, wait=False, worker="always")
        _until(marker.exists, 60, "the slow step to start")
        devserver.stop(folder)
        assert devserver.status(folder) is None
        restarted, started = devserver.ensure_running(folder)
        assert started and restarted.address == server.address  # same port, same database
        run = flowat.wait(queued.run_id, timeout=120)
        assert run.status == "succeeded", run.error
        assert run.outputs["after"]["result"] == 2
    finally:
        reset_runtime()
        devserver.stop(folder)
