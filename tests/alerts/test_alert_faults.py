"""Alerts across worker crashes, and error-handler workflows, with `flowat worker` processes.

The run starts as REST starts it (trigger ``rest``, the shared task queue) and executes
on a separate ``flowat worker`` process, which is SIGKILLed while it sends the alert:
after the receiver got the request and before the delivery was recorded. A second
worker retries the delivery with the same idempotency key, so a receiver that drops
duplicates has the alert exactly once, and the store records it delivered once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.api import default_workspace
from flowat_kernel.runtime import reset_runtime
from flowat_kernel.testing import LoopbackHTTPServer, Recorded, Reply, cells
from tests.alerts.conftest import wait_until


def _worker(log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "flowat_kernel.cli.main", "worker"],
        env={**os.environ},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_the_alert_is_sent_exactly_once_when_the_worker_is_killed_while_sending(
    temporal: str, workflow_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWAT_EGRESS", "open")
    reset_runtime()
    arrived = threading.Event()
    release = threading.Event()
    seen: set[str] = set()

    def answer(request: Recorded) -> Reply:
        key = request.headers.get("Idempotency-Key", "")
        first = key not in seen
        seen.add(key)  # a receiver that drops duplicates by key
        if first:
            arrived.set()
            release.wait(30)  # the sender dies meanwhile
        return Reply(200, {"duplicate": not first})

    with LoopbackHTTPServer(answer) as receiver:
        door = default_workspace()
        flowat.publish(workflow_name, cells=cells("%%flowat step fail\nraise ValueError('no')"))
        door.add_alert(workflow_name, on="failure", kind="webhook", target=receiver.url + "/a")
        log = tmp_path / "worker.log"
        first = _worker(log)
        second = None
        try:
            record = door.start(workflow_name, trigger="rest", worker="never")
            assert arrived.wait(120), log.read_text()[-3000:]
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            release.set()
            assert flowat.get_run(record.run_id).status == "failed"
            (pending,) = door.alert_deliveries(run_id=record.run_id)
            assert pending.status == "sending" and pending.attempts == 1
            second = _worker(log)

            def delivered() -> object:
                found = door.alert_deliveries(run_id=record.run_id)
                return found if found and found[0].status == "delivered" else None

            (delivery,) = wait_until(delivered, timeout=120, what="the retried delivery")
        finally:
            release.set()
            _stop(first)
            if second is not None:
                _stop(second)
        requests = receiver.requests
        assert len(seen) == 1  # one alert, as the receiver counts them
        assert len(requests) == 2 == delivery.attempts  # sent again after the crash
        assert requests[0].headers["Idempotency-Key"] == requests[1].headers["Idempotency-Key"]
        assert record.run_id in requests[0].json()["text"]


def test_a_failure_starts_the_error_handler_workflow_with_the_runs_details(
    temporal: str, workflow_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reset_runtime()
    door = default_workspace()
    handler = workflow_name + "_handler"
    flowat.publish(
        handler,
        cells=cells(
            "%%flowat step handle\nseen = dict(run_id=run_id, workflow=workflow, step=step, "
            "error=error, parameters=parameters)",
            parameters="run_id = ''\nworkflow = ''\nstep = ''\nerror = {}\nparameters = {}",
        ),
    )
    flowat.publish(
        workflow_name,
        cells=cells("%%flowat step explode\nraise RuntimeError(f'bad {n}')", parameters="n = 1"),
    )
    door.add_alert(workflow_name, on="failure", kind="workflow", target=handler)
    log = tmp_path / "worker.log"
    worker = _worker(log)
    try:
        record = door.start(workflow_name, parameters={"n": 5}, trigger="rest", worker="never")
        failed = door.wait(record.run_id, timeout=120)
        assert failed.status == "failed"

        def handled() -> object:
            found = door.alert_deliveries(run_id=record.run_id)
            return found if found and found[0].status in ("delivered", "failed") else None

        (delivery,) = wait_until(handled, timeout=120, what="the handler's start")
        assert delivery.status == "delivered", delivery.last_error
        assert delivery.handler_run_id
        done = door.wait(delivery.handler_run_id, timeout=120)
    finally:
        _stop(worker)
    assert done.status == "succeeded", done.error
    assert done.record.trigger == "alert"
    seen = done.outputs["handle"]["seen"]
    assert seen["run_id"] == record.run_id and seen["workflow"] == workflow_name
    assert seen["step"] == "explode" and seen["parameters"] == {"n": 5}
    assert seen["error"]["type"] == "RuntimeError" and "bad 5" in seen["error"]["message"]
    # the handler's own success sets off nothing (it has no alerts): one delivery in all
    assert len(door.alert_deliveries(run_id=done.run_id)) == 0
