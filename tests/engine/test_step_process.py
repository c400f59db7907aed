"""Code steps run in child processes the worker can stop (issue 17).

A step that times out or is cancelled stops within seconds even inside a blocking C
call (a sleep, a socket read, a subprocess), the step's process group included; nothing
a step prints reaches the worker's own streams; secrets and breakers are served by the
worker; the in-thread mode stays available by setting, and a bad setting says what to
fix. Real Temporal dev server, real processes, real sockets.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flowat_kernel as flowat
from flowat_kernel.engine.cells import executor_mode, run_code
from flowat_kernel.engine.cells.pool import ProcessPool
from flowat_kernel.engine.executor import StepCodeError
from flowat_kernel.errors import ConfigError
from flowat_kernel.spec import StepSpec
from flowat_kernel.step_context import StepScope
from flowat_kernel.testing import cells
from tests.engine.processes import gone


def _wait_for(path: Path, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while not path.exists() or not path.read_text().strip():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    return path.read_text()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


BLOCKING = {
    "sleep": "time.sleep(600)",
    "socket": "_s = socket.create_connection(('127.0.0.1', PORT))\n_s.recv(1)",
    "subprocess": (
        "_p = subprocess.Popen(['sleep', '600'])\n"
        "pathlib.Path(MARK).with_suffix('.sub').write_text(str(_p.pid))\n"
        "_p.wait()"
    ),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("call", sorted(BLOCKING))
def test_a_timeout_stops_a_step_blocked_in_a_c_call(
    temporal: str, workflow_name: str, tmp_path: Path, silent_server: int, call: str
) -> None:
    mark = tmp_path / "pid"
    body = BLOCKING[call].replace("PORT", str(silent_server)).replace("MARK", repr(str(mark)))
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step stuck --timeout 3s --retries 0\n"
            "import os, time, socket, subprocess, pathlib\n"
            f"pathlib.Path({str(mark)!r}).write_text(str(os.getpid()))\n{body}\ndone = 1",
            "%%flowat step after\nlater = done + 1",
        ),
    )
    started = time.monotonic()
    run = flowat.run(workflow_name)
    took = time.monotonic() - started
    assert run.status == "failed"
    assert run.error is not None and run.error["type"] == "StepTimeout", run.error
    assert took < 60, took  # not the 600 s of the call (generous: guards only against hangs)
    pid = int(mark.read_text())
    assert pid != os.getpid()  # the step ran in its own process...
    assert gone(pid)  # ...which the worker stopped
    if call == "subprocess":  # with what it started
        assert gone(int(mark.with_suffix(".sub").read_text()))


@pytest.mark.timeout(120)
def test_cancel_stops_a_step_blocked_in_a_c_call(
    temporal: str, workflow_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWAT_HEARTBEAT_TIMEOUT", "1")
    from flowat_kernel.runtime import reset_runtime

    reset_runtime()
    mark = tmp_path / "pid"
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step stuck --retries 0\nimport os, time, pathlib\n"
            f"pathlib.Path({str(mark)!r}).write_text(str(os.getpid()))\n"
            "time.sleep(600)\nslow = 1",
        ),
    )
    queued = flowat.run(workflow_name, wait=False, worker="always")
    pid = int(_wait_for(mark))
    flowat.cancel(queued.run_id)
    run = flowat.wait(queued.run_id, timeout=60)
    assert run.status == "cancelled"
    assert {s.name: s.status for s in run.record.steps}["stuck"] == "cancelled"
    assert gone(pid)


def test_nothing_a_step_prints_reaches_the_worker_streams(
    temporal: str, workflow_name: str, capfd: pytest.CaptureFixture[str]
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step noisy\nimport os, sys, logging, warnings, subprocess\n"
            "print('marker-print')\nos.write(1, b'marker-fd1\\n')\nos.write(2, b'marker-fd2\\n')\n"
            "sys.__stdout__.write('marker-dunder\\n'); sys.__stdout__.flush()\n"
            "logging.getLogger().error('marker-log')\nwarnings.warn('marker-warning')\n"
            "subprocess.run('echo marker-sub; echo marker-sub-err >&2', shell=True)\n"
            "done = 1",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    out, err = capfd.readouterr()
    assert "marker" not in out + err
    shown = repr({s.name: s for s in run.record.steps}["noisy"].display)
    for marker in ("print", "fd1", "fd2", "log", "warning", "sub", "sub-err"):
        assert f"marker-{marker}" in shown, marker


def test_secrets_and_breakers_are_served_by_the_worker(temporal: str, workflow_name: str) -> None:
    name = "proc_secret"
    flowat.set_secret(name, "process-canary-value")
    flowat.publish(
        workflow_name,
        cells=cells(
            f"%%flowat step use\nvalue = flowat.secret({name!r}).reveal()\n"
            "length = len(value)\nprint(value)",
            "%%flowat step after\nsame = value == 'process-canary-value'",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    assert run.outputs["use"]["length"] == len("process-canary-value")
    assert run.outputs["after"]["same"] is True
    step = {s.name: s for s in run.record.steps}["use"]
    assert "process-canary-value" not in (step.logs or "") + repr(step.display)
    assert f"[secret:{name}]" in (step.logs or "")
    # Masked in the record of the value too: the secret taints what the step exported.
    assert "process-canary-value" not in repr(step.outputs)


def _step(source: str, **fields: Any) -> StepSpec:
    return StepSpec(name="s", kind="code", source=source, **fields)


@pytest.mark.timeout(60)
def test_a_step_that_ignores_sigterm_is_killed_after_the_grace() -> None:
    step = _step(
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(600)"
    )
    started = time.monotonic()
    with pytest.raises(StepCodeError) as failed:
        run_code(step, {}, StepScope(step="s"), deadline=time.monotonic() + 1)
    assert failed.value.exc_type == "StepTimeout"
    assert time.monotonic() - started < 30  # guards against a hang only


def test_each_step_gets_a_fresh_process_with_the_workers_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLOWAT_TEST_MARKER", "seen")
    step = _step(
        "import os, sys\nleaked = 'leak' in globals()\nleak = 1\n"
        "pid, cwd, marker, worker = os.getpid(), os.getcwd(), os.environ['FLOWAT_TEST_MARKER'], "
        "os.environ['FLOWAT_WORKER_PID']\nsys.modules['json'].leak = 1",
        exports=("leaked", "pid", "cwd", "marker", "worker"),
    )
    first = run_code(step, {}, StepScope(step="s")).exports
    second = run_code(step, {}, StepScope(step="s")).exports
    assert first["pid"] != second["pid"] != os.getpid()
    assert first["leaked"] is False and second["leaked"] is False
    assert first["cwd"] == str(tmp_path) and first["marker"] == "seen"
    assert first["worker"] == str(os.getpid())


def test_inputs_go_in_and_exports_come_back_by_pickle() -> None:
    import pandas as pd

    frame = pd.DataFrame({"a": [1, 2, 3]})
    step = _step(
        "class Point:\n    def __init__(self, x):\n        self.x = x\n"
        "total = int(frame.a.sum())\npoint = Point(total)\nframe2 = frame * 2",
        exports=("total", "point", "frame2"),
    )
    result = run_code(step, {"frame": frame}, StepScope(step="s"))
    assert result.exports["total"] == 6
    assert result.exports["point"].x == 6
    assert result.exports["frame2"].a.tolist() == [2, 4, 6]


def test_the_thread_mode_is_a_setting_and_a_bad_setting_says_what_to_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWAT_STEP_EXECUTOR", "thread")
    assert executor_mode() == "thread"
    result = run_code(_step("import os\npid = os.getpid()", exports=("pid",)), {}, StepScope())
    assert result.exports["pid"] == os.getpid()
    monkeypatch.setenv("FLOWAT_STEP_EXECUTOR", "fork")
    with pytest.raises(ConfigError, match=r"'process'.*'thread'"):
        executor_mode()


def test_a_template_that_cannot_start_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = ProcessPool(idle=0)
    monkeypatch.setattr("sys.executable", "/nonexistent/python")
    with pytest.raises(flowat.FlowAtError, match="step process template"):
        pool.take()
    pool.close()


def test_an_idle_child_that_ended_is_never_handed_a_step() -> None:
    """Children waiting in the pool that were killed (their template stopped, OOM) are skipped."""
    pool = ProcessPool(idle=2)
    try:
        pool.start()
        deadline = time.monotonic() + 60
        while len(pool._ready) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        killed = [child.pid for child in pool._ready]
        assert len(killed) == 2
        for pid in killed:
            os.kill(pid, 9)
        for pid in killed:
            assert gone(pid)
        while any(c.waiting() for c in pool._ready) and time.monotonic() < deadline + 10:
            time.sleep(0.01)  # the kernel closes their sockets a moment after they are gone
        child = pool.take()
        assert child.pid not in killed
        assert child.waiting()
        child.close()
    finally:
        pool.close()


def test_children_forked_in_one_request_end_on_their_own() -> None:
    """Each child of a batch holds only its own connection: one ending shows as EOF at once."""
    pool = ProcessPool(idle=0)
    try:
        children = pool._fork(3)
        assert len({child.pid for child in children}) == 3
        assert all(child.waiting() for child in children)
        first, middle, last = children
        os.kill(middle.pid, 9)
        assert gone(middle.pid)
        deadline = time.monotonic() + 10
        while middle.waiting() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not middle.waiting()  # no sibling holds its other end
        assert first.waiting() and last.waiting()
        result = run_code(_step("x = 1", exports=("x",)), {}, StepScope(step="s"))
        assert result.exports["x"] == 1
    finally:
        pool.close()


@pytest.mark.parametrize("idle", [0, 1])
def test_a_burst_leaves_no_more_children_waiting_than_the_pool_keeps(idle: int) -> None:
    pool = ProcessPool(idle=idle)
    taken: list[Any] = []
    try:
        taken = [pool.take() for _ in range(3)]
        assert len({child.pid for child in taken}) == 3
        assert len(pool._ready) <= idle
    finally:
        for child in taken:
            child.close()
        pool.close()
