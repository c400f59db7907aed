"""A worker killed in the middle of an agent loop: the next worker resumes it.

The loop's first model call and its tool call finished before the kill; the second
model call was in flight (the fake holds it open). A new ``flowat worker`` process
takes the run over: it replays the recorded calls from the run's history, repeats only
the interrupted model call, and the run succeeds. The finished history then replays
against the current workflow code without a nondeterminism error.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.compiler import Cell
from flowat_kernel.engine.workflow import GraphWorkflow
from flowat_kernel.runtime import reset_runtime
from flowat_kernel.testing import LoopbackHTTPServer, Recorded, Reply
from tests.connectors.fake_openai import FakeOpenAI
from tests.replay.record_histories import fetch_decoded_history
from tests.replay.test_replay import make_replayer


def _worker(log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "flowat_kernel.cli.main", "worker"],
        env={**os.environ},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_worker_killed_mid_loop_resumes_without_repeating_finished_calls(
    fake: FakeOpenAI,
    api_key: tuple[str, str],
    workflow_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWAT_HEARTBEAT_TIMEOUT", "2")
    reset_runtime()
    with LoopbackHTTPServer(lambda r: Reply(200, {"in_stock": 7})) as stock:
        fake.script(
            {"tool_calls": [("http_request", {"url": stock.url + "/stock/widget"})]},
            {"hold": True},  # the worker dies while this call is open
            {"content": json.dumps({"in_stock": 7})},
        )
        flowat.publish(
            workflow_name,
            cells=[
                Cell('llm_url = "http://127.0.0.1:9/v1"', 1, tags=("parameters",)),
                Cell(
                    "%%flowat step agent --action llm.agent\n"
                    "base_url = llm_url\n"
                    f"api_key = flowat.secret({api_key[0]!r})\n"
                    'model = "gpt-4o-mini"\n'
                    'messages = [{"role": "user", "content": "How many widgets are in stock?"}]\n'
                    'tools = [{"action": "http.request", "defaults": {"method": "GET"}}]\n'
                    'output_schema = {"type": "object", "required": ["in_stock"]}\n',
                    2,
                ),
            ],
        )
        log = tmp_path / "worker.log"
        first = _worker(log)
        try:
            queued = flowat.run(
                workflow_name, parameters={"llm_url": fake.base_url}, wait=False, worker="never"
            )
            _until(lambda: len(fake.requests) == 2, 90, "the second model call")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            assert flowat.get_run(queued.run_id).status == "running"
            second = _worker(log)
            try:
                run = flowat.wait(queued.run_id, timeout=120)
            finally:
                second.send_signal(signal.SIGTERM)
                second.wait(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
        stock_requests: list[Recorded] = list(stock.requests)

    assert run.status == "succeeded", (run.error, log.read_text()[-3000:])
    assert run.outputs["agent"]["agent"]["json"] == {"in_stock": 7}
    # The finished model call and the tool call ran once; only the interrupted call again.
    assert len(stock_requests) == 1
    bodies = [r.json()["messages"] for r in fake.requests]
    assert len(bodies) == 3
    assert bodies[1] == bodies[2]  # the held call, asked again with the same conversation
    assert [m["role"] for m in bodies[2]][-2:] == ["assistant", "tool"]
    assert run.outputs["agent"]["agent"]["model_calls"] == 2

    history = fetch_decoded_history(run.run_id)
    result = asyncio.run(
        make_replayer(GraphWorkflow).replay_workflow(history, raise_on_replay_failure=False)
    )
    assert result.replay_failure is None, result.replay_failure
