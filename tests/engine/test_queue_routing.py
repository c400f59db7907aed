"""Task-queue routing on the real stack: ``--queue`` steps run only on workers of their queue.

Every worker here is a real ``flowat worker`` subprocess with a FLOWAT_HOME of its own
(another "host"), sharing only the metadata store (a SQLite file), the master key and
the session's Temporal dev server with this process, which publishes and starts the
runs (their workflow runs here; routed steps leave for the workers of their queue).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import flowat_kernel as flowat
from flowat_kernel.engine import devserver
from flowat_kernel.runtime import get_runtime, reset_runtime
from flowat_kernel.testing import cells
from flowat_kernel.vault.keyring import encode_key, new_key

Spawn = Callable[..., "Worker"]


class Worker:
    """A ``flowat worker`` subprocess and its log."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flowat_kernel.cli.main", "worker", *args],
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, seconds: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + seconds
        while True:
            found = re.search(pattern, self.text())
            if found:
                return found
            assert self.process.poll() is None, f"the worker exited:\n{self.text()}"
            assert time.monotonic() < deadline, (
                f"no {pattern!r} in the worker's log:\n{self.text()}"
            )
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def cluster(
    temporal: str, flowat_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[dict[str, str], Spawn]]:
    """This process as host A, and a way to start workers as other hosts.

    Returns the environment the hosts share and ``spawn(*args, name=...)``.
    """
    server, _ = devserver.ensure_running(flowat_home / "temporal")
    shared = {
        "FLOWAT_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}",
        "FLOWAT_TEMPORAL_ADDRESS": server.address,
        "FLOWAT_MASTER_KEY": encode_key(new_key()),
        "FLOWAT_TASK_QUEUE": temporal,
        "FLOWAT_STEP_EXECUTOR": "thread",
    }
    home_a = tmp_path / "host-a"
    monkeypatch.setenv("FLOWAT_HOME", str(home_a))
    for key, value in shared.items():
        monkeypatch.setenv(key, value)
    reset_runtime()
    workers: list[Worker] = []

    def spawn(*args: str, name: str) -> Worker:
        home = tmp_path / f"host-{name}"
        env = {**os.environ, **shared, "FLOWAT_HOME": str(home)}
        worker = Worker([*args, "--name", name], env, tmp_path / f"{name}.log")
        workers.append(worker)
        worker.wait_for(r"polling task queue")
        return worker

    try:
        yield shared, spawn
    finally:
        for worker in workers:
            worker.stop()
        reset_runtime()


def _until(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _step(run_id: str, name: str) -> Any:
    record = get_runtime().store.get_run(run_id)
    return next(s for s in record.steps if s.name == name)


WHO = "import os\nwho = os.environ.get('FLOWAT_WORKER_NAME')\npid = os.getpid()\n"


def test_a_routed_step_waits_for_a_worker_of_its_queue_and_runs_only_there(
    cluster: tuple[dict[str, str], Spawn], workflow_name: str
) -> None:
    _, spawn = cluster
    gpu = f"gpu-{uuid.uuid4().hex[:8]}"
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step prepare\n" + WHO + "size = 3",
            f"%%flowat step train --queue {gpu}\n" + WHO + "model = size * 2",
        ),
    )
    spec = get_runtime().store.get_version(get_runtime().settings.owner, workflow_name, None).spec
    assert spec.step("train").queue == gpu and spec.step("prepare").queue is None
    spawn(name="shared-1")  # a worker on the shared queue only: it must not take the step
    queued = flowat.run(workflow_name, wait=False)
    waiting = _until(
        lambda: (s := _step(queued.run_id, "train")).status == "waiting" and s,
        60,
        "the routed step to be recorded waiting",
    )
    assert waiting.error["type"] == "WaitingForWorker"
    assert waiting.error["queue"] == gpu
    assert f"waiting for a worker on queue {gpu!r}" in waiting.error["message"]
    assert waiting.ended_at is None
    assert _step(queued.run_id, "prepare").status == "succeeded"
    assert flowat.get_run(queued.run_id).status == "running"

    listed = subprocess.run(
        [sys.executable, "-m", "flowat_kernel.cli.main", "runs", workflow_name],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert f"waiting for a worker on {gpu}" in listed.stdout

    def backlog() -> Any:
        shown = subprocess.run(
            [sys.executable, "-m", "flowat_kernel.cli.main", "queues", gpu, "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert shown.returncode == 0, shown.stderr
        (queue,) = json.loads(shown.stdout)
        return queue if queue["activity"]["backlog"] >= 1 else None

    queue = _until(backlog, 60, f"a backlog on {gpu} in flowat queues")
    assert queue["name"] == gpu and queue["pollers"] == []
    assert queue["oldest_task_seconds"] > 0

    trainer = spawn("--queue", gpu, "--metrics-port", "0", name="gpu-1")
    run = flowat.wait(queued.run_id, timeout=120)
    assert run.status == "succeeded", run.error
    assert run.outputs["train"]["who"] == "gpu-1"
    assert run.outputs["train"]["model"] == 6
    assert run.outputs["prepare"]["who"] is None  # the workflow's own worker: this process
    assert run.outputs["prepare"]["pid"] == os.getpid()
    train = _step(run.run_id, "train")
    assert train.status == "succeeded" and train.error is None

    port = int(trainer.wait_for(r"Metrics: http://127\.0\.0\.1:(\d+)/metrics").group(1))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        body = response.read().decode()
    assert f'flowat_steps_started_total{{kind="code",queue="{gpu}"}} 1.0' in body
    assert f'flowat_steps_succeeded_total{{kind="code",queue="{gpu}"}} 1.0' in body
    assert f'flowat_step_duration_seconds_count{{kind="code",queue="{gpu}"}} 1.0' in body
    assert "flowat_dead_letters 0.0" in body
    assert 'flowat_breakers{state="open"} 0.0' in body
    assert "temporal_" in body  # the SDK's own metrics, relayed

    broken = f"{workflow_name}_broken"
    flowat.publish(broken, cells=cells(f"%%flowat step bad --queue {gpu} --retries 0\n1 / 0"))
    failed = flowat.run(broken, timeout=120)
    assert failed.status == "failed" and "ZeroDivisionError" in str(failed.error)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        body = response.read().decode()
    assert f'flowat_steps_failed_total{{final="true",kind="code",queue="{gpu}"}} 1.0' in body, [
        line for line in body.splitlines() if "failed" in line
    ]
    assert f'flowat_steps_started_total{{kind="code",queue="{gpu}"}} 2.0' in body


def test_a_routed_sub_workflow_runs_with_its_steps_on_the_queue(
    cluster: tuple[dict[str, str], Spawn], workflow_name: str
) -> None:
    _, spawn = cluster
    region = f"eu-{uuid.uuid4().hex[:8]}"
    child = f"{workflow_name}_child"
    inner = "%%flowat step inner\n" + WHO + "total = rows * 10"
    flowat.publish(child, cells=cells(inner, parameters="rows = 1"))
    flowat.publish(
        workflow_name,
        cells=cells(
            f"%%flowat step summary --workflow {child} --queue {region}\nrows = 4",
            "%%flowat step after\n" + WHO + "seen = summary['inner']['total']",
        ),
    )
    spawn("--queue", region, name="eu-1")
    run = flowat.run(workflow_name, timeout=120)
    assert run.status == "succeeded", run.error
    assert run.outputs["summary"]["summary"]["inner"]["who"] == "eu-1"  # the child's step
    assert run.outputs["after"] == {"who": None, "pid": os.getpid(), "seen": 40}
    (child_run,) = [
        r for r in get_runtime().store.list_runs(get_runtime().settings.owner, child, 10)
    ]
    assert child_run.status == "succeeded"


def test_a_default_queue_comes_from_publish_or_the_notebook_metadata(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from flowat_kernel.errors import SpecError

    source = ["%%flowat step a\nx = 1", "%%flowat step b --local\ny = x"]
    plain = flowat.publish(workflow_name, cells=cells(*source))
    routed = flowat.publish(workflow_name, cells=cells(*source), queue="eu-west")
    assert routed.number == plain.number + 1  # the default queue is part of the content
    spec = routed.version.spec
    assert spec.queue == "eu-west"
    assert spec.step("a").routed_to(spec.queue) == "eu-west"
    assert spec.step("b").routed_to(spec.queue) is None  # --local stays with the workflow

    path = tmp_path / "nb.ipynb"
    document = new_notebook(cells=[new_code_cell(s) for s in source])
    document.metadata["flowat"] = {"queue": "gpu"}
    nbformat.write(document, path)
    assert flowat.publish(workflow_name, notebook=path).version.spec.queue == "gpu"
    assert flowat.publish(workflow_name, notebook=path, queue="cpu").version.spec.queue == "cpu"
    document.metadata["flowat"] = {"queue": "not a queue"}
    nbformat.write(document, path)
    with pytest.raises(SpecError, match=r"flowat\.queue 'not a queue': name a task queue"):
        flowat.publish(workflow_name, notebook=path)
    with pytest.raises(SpecError, match="name a task queue"):
        flowat.publish(workflow_name, cells=cells(*source), queue="-")


def test_three_workers_on_two_queues_each_step_on_its_queue(
    cluster: tuple[dict[str, str], Spawn], workflow_name: str
) -> None:
    # 20 runs: the workers' options and the default queue; tests/cluster/test_two_hosts.py
    # runs 200 across two hosts' workers.
    _, spawn = cluster
    tag = uuid.uuid4().hex[:8]
    left, right = f"left-{tag}", f"right-{tag}"
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step a\n" + WHO + "out = n",  # the workflow's default queue: left
            f"%%flowat step b --queue {right}\n" + WHO + "out = n * 2",
            parameters="n = 0",
        ),
        queue=left,
    )
    spawn("--queue", left, name="left-1")
    spawn("--queue", left, "--max-concurrent-steps", "4", name="left-2")
    spawn("--queue", right, "--max-concurrent-local", "8", name="right-1")
    started = [flowat.run(workflow_name, parameters={"n": i}, wait=False) for i in range(20)]
    ran: dict[str, set[str]] = {"a": set(), "b": set()}
    for i, queued in enumerate(started):
        run = flowat.wait(queued.run_id, timeout=600)
        assert run.status == "succeeded", (i, run.error)
        assert run.outputs["a"]["out"] == i and run.outputs["b"]["out"] == 2 * i  # none lost
        ran["a"].add(run.outputs["a"]["who"])
        ran["b"].add(run.outputs["b"]["who"])
        assert {s.status for s in run.record.steps} == {"succeeded"}
    assert ran["a"] <= {"left-1", "left-2"}, ran
    assert ran["b"] == {"right-1"}, ran
