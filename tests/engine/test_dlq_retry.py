"""``flowat dlq retry`` against the real dev server: with no worker running it behaves
like ``flowat run`` (a worker in this process under ``worker=auto``), the entry is
marked retried only once its re-run has started, a start that fails parks it again,
and two concurrent retries start one run."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

import flowat_kernel as flowat
from flowat_kernel.access import local_principal
from flowat_kernel.access.errors import Conflict
from flowat_kernel.cli.main import main as cli
from flowat_kernel.dlq import dlq_list, dlq_show
from flowat_kernel.errors import ParameterError
from flowat_kernel.runtime import get_runtime, reset_runtime
from flowat_kernel.testing import cells
from flowat_kernel.workspace import Workspace

FAILING = "if n == 0:\n    raise ValueError('n must not be 0')\nout = n * 2"


def _publish(workflow: str, body: str, parameters: str = "n = 1") -> None:
    flowat.publish(
        workflow, cells=cells(f"%%flowat step work --retries 0\n{body}", parameters=parameters)
    )


def _parked(workflow: str, **run: Any) -> str:
    _publish(workflow, FAILING)
    failed = flowat.run(workflow, parameters={"n": 0}, **run)
    assert failed.status == "failed"
    found = [d for d in dlq_list() if d.run_id == failed.run_id]
    assert len(found) == 1
    return found[0].id


@pytest.mark.parametrize(
    ("run_on", "options"), [("here", []), ("shared", []), ("here", ["--worker", "shared"])]
)
def test_retry_with_no_worker_running_completes(
    temporal: str,
    workflow_name: str,
    run_on: str,
    options: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FLOWAT_RUN_ON", run_on)
    letter_id = _parked(workflow_name)
    reset_runtime()  # the worker that ran the failed run stops: none is running now
    assert not get_runtime().worker_running
    assert get_runtime().store.live_workers(temporal) == []
    _publish(workflow_name, "out = n + 5")
    capsys.readouterr()
    assert cli(["dlq", "retry", letter_id, "--json", *options]) == 0
    redriven = json.loads(capsys.readouterr().out)
    assert redriven["status"] == "succeeded" and redriven["outputs"]["work"]["out"] == 5
    shown = dlq_show(letter_id)
    assert shown["status"] == "retried" and shown["redrive_run_id"] == redriven["run_id"]
    shared = run_on == "shared" or "shared" in options
    assert (get_runtime().store.get_run(redriven["run_id"]).task_queue == temporal) is shared


def test_a_start_that_fails_parks_the_entry_again(temporal: str, workflow_name: str) -> None:
    letter_id = _parked(workflow_name)
    _publish(workflow_name, "out = m", parameters="m = 1")  # the run's n is unknown now
    with pytest.raises(ParameterError):
        flowat.api.dlq_retry(letter_id)
    shown = dlq_show(letter_id)
    assert shown["status"] == "parked" and shown["redrive_run_id"] is None
    assert all(r.trigger != "rerun" for r in flowat.runs(workflow_name))  # none started
    _publish(workflow_name, "out = n + 5")
    assert flowat.api.dlq_retry(letter_id).status == "succeeded"
    assert dlq_show(letter_id)["status"] == "retried"


def test_two_concurrent_retries_start_one_run(temporal: str, workflow_name: str) -> None:
    letter_id = _parked(workflow_name)
    _publish(workflow_name, "out = n + 5")
    gate = threading.Barrier(2)
    started: list[str] = []
    refused: list[BaseException] = []

    def retry() -> None:
        door = Workspace(get_runtime(), local_principal())
        gate.wait()
        try:
            started.append(door.dlq_retry(letter_id, wait=False).run_id)
        except Conflict as exc:
            refused.append(exc)

    threads = [threading.Thread(target=retry) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(started) == 1 and len(refused) == 1, (started, refused)
    assert "retried" in str(refused[0])
    reruns = [r for r in flowat.runs(workflow_name) if r.trigger == "rerun"]
    assert [r.run_id for r in reruns] == started
    assert flowat.wait(started[0], timeout=60).status == "succeeded"
    assert dlq_show(letter_id)["redrive_run_id"] == started[0]
