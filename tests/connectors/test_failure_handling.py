"""Failure handling against real downstreams on loopback, with real worker processes.

- A downstream answering 503 for a while: retries back off, the circuit breaker (shared
  by two ``flowat worker`` processes through the store) opens, calls fail fast, a probe
  goes through once the downstream recovers, the breaker closes, every run succeeds.
- A downstream answering 400: the step fails at once and its input is parked in the
  dead-letter queue; a re-drive after the fix causes exactly one new effect.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.cli.main import main as cli
from flowat_kernel.compiler import Cell
from flowat_kernel.dlq import dlq_list, dlq_show
from flowat_kernel.runtime import get_runtime, reset_runtime
from flowat_kernel.testing import LoopbackHTTPServer, Recorded, Reply


def _until(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def workers(
    temporal: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Two ``flowat worker`` processes on the test's task queue, breaker thresholds low."""
    monkeypatch.setenv("FLOWAT_BREAKER_FAILURES", "3")
    monkeypatch.setenv("FLOWAT_BREAKER_RESET", "4")
    # Retries at the policy's exact backoff, so some of them fall in the open window
    # (with jitter, whether one does is chance).
    monkeypatch.setenv("FLOWAT_RETRY_JITTER", "off")
    reset_runtime()
    log = (tmp_path / "workers.log").open("ab")
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "flowat_kernel.cli.main", "worker"],
            env=dict(os.environ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(2)
    ]
    yield processes
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    log.close()


def test_breaker_shared_by_two_workers_opens_fails_fast_probes_and_closes(
    workers: list[subprocess.Popen[bytes]], workflow_name: str
) -> None:
    healthy = threading.Event()
    lock = threading.Lock()
    seen: list[tuple[float, int]] = []

    def downstream(request: Recorded) -> Reply:
        status = 200 if healthy.is_set() else 503
        with lock:
            seen.append((time.monotonic(), status))
        return Reply(status, {"ok": status == 200} if status == 200 else "busy")

    with LoopbackHTTPServer(downstream) as server:
        flowat.publish(
            workflow_name,
            cells=[
                Cell("base = ''\nitem = 0", 1, tags=("parameters",)),
                Cell(
                    "%%flowat step call --retries 6\nimport os\n"
                    "print('worker', os.environ['FLOWAT_WORKER_PID'])\n"
                    "reply = flowat.action('http.request', url=f'{base}/item/{item}')\n"
                    "status = reply.status",
                    2,
                ),
            ],
        )
        queued = [
            flowat.run(
                workflow_name,
                parameters={"base": server.url, "item": i},
                wait=False,
                worker="never",
            )
            for i in range(6)
        ]
        breakers = get_runtime().breakers
        host = server.url.removeprefix("http://")  # the http connector keys on host:port
        _until(lambda: breakers.state("http", host)["state"] == "open", 60, "an open breaker")
        opened = breakers.state("http", host)
        until = opened["open_until"]
        assert isinstance(until, datetime)
        time.sleep(0.5)  # calls that passed the breaker just before it opened land
        failures_when_opened = sum(1 for _, status in seen if status == 503)
        window = (until - datetime.now(UTC)).total_seconds() - 0.3
        if window > 0:  # while open, retries fail fast without reaching the downstream
            time.sleep(window)
            assert sum(1 for _, status in seen if status == 503) == failures_when_opened
        healthy.set()
        runs = [flowat.wait(run.run_id, timeout=120) for run in queued]

    assert all(run.status == "succeeded" for run in runs), [r.error for r in runs]
    assert all(run.outputs["call"]["status"] == 200 for run in runs)
    # Failures opened it after the threshold (plus calls already in flight), no more.
    assert 3 <= failures_when_opened <= 3 + len(queued)
    final = get_runtime().breakers.state("http", host)
    assert final["state"] == "closed" and final["openings"] >= 1
    # Some attempts were refused by the breaker without a request: fewer requests than
    # attempts, and the refusal said until when.
    records = [run.record for run in runs]
    attempts = sum(s.attempts for r in records for s in r.steps)
    assert len(seen) < attempts
    # The runs went to the shared workers (never this process), which share the breaker
    # through the store. Which of the two takes each run is Temporal's choice: usually
    # both, but one worker may take all six under load.
    pids = {
        line.split()[1]
        for r in records
        for s in r.steps
        for line in (s.logs or "").splitlines()
        if line.startswith("worker ")
    }
    assert 1 <= len(pids) <= 2, pids
    assert str(os.getpid()) not in pids


def test_a_400_parks_the_input_in_the_dlq_and_a_redrive_has_one_effect(
    temporal: str,
    workflow_name: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A redrive is a rerun, which the egress policy treats as not local ('public'): the
    # Administrator allows the loopback service, as an internal API would be allowed.
    monkeypatch.setenv("FLOWAT_EGRESS_ALLOW", "127.0.0.1/32")
    effects: dict[str, dict[str, object]] = {}

    def orders(request: Recorded) -> Reply:
        order = request.json()
        if "qty" not in order:
            return Reply(400, {"error": "qty is required"})
        key = request.headers.get("Idempotency-Key", "")
        effects.setdefault(key, order)
        return Reply(201, {"id": f"order-{len(effects)}"})

    def version(body: str) -> list[Cell]:
        return [
            Cell("base = ''", 1, tags=("parameters",)),
            Cell("%%flowat step prepare\nsku = 'A-1'", 2),
            Cell(
                "%%flowat step place --action http.request --retries 5\n"
                "url = base + '/orders'\nmethod = 'POST'\n"
                f"json_body = {body}\nidempotency_header = 'Idempotency-Key'",
                3,
            ),
            Cell("%%flowat step confirm\nconfirmation = place['json_body']['id']", 4),
        ]

    with LoopbackHTTPServer(orders) as server:
        flowat.publish(workflow_name, cells=version("{'sku': sku}"))
        failed = flowat.run(workflow_name, parameters={"base": server.url})
        assert failed.status == "failed"
        place = next(s for s in failed.record.steps if s.name == "place")
        assert place.attempts == 1  # a 400 is not retried
        parked = [d for d in dlq_list() if d.run_id == failed.run_id]
        assert len(parked) == 1 and parked[0].step == "place"
        assert "400" in str(parked[0].error["message"])
        shown = dlq_show(parked[0].id)
        assert shown["inputs"]["sku"] == "A-1"
        assert effects == {}

        flowat.publish(workflow_name, cells=version("{'sku': sku, 'qty': 2}"))
        assert cli(["dlq", "retry", parked[0].id, "--json"]) == 0
        redriven = json.loads(capsys.readouterr().out)
        assert redriven["status"] == "succeeded"
        assert redriven["outputs"]["confirm"]["confirmation"] == "order-1"
        assert len(effects) == 1 and list(effects.values()) == [{"sku": "A-1", "qty": 2}]
        # An entry is re-driven once.
        assert cli(["dlq", "retry", parked[0].id]) == 2
        assert "retried already" in capsys.readouterr().err
        assert len(effects) == 1

    assert cli(["dlq", "list", "--all", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    entry = next(e for e in listed if e["id"] == parked[0].id)
    assert entry["status"] == "retried" and entry["redrive_run_id"] == redriven["run_id"]
    assert uuid.UUID(hex=entry["id"])
