"""A run's step process is kept for the run's next step, never for anything else.

Steps of one run take the process the run's last step left (fresh namespaces, what
they imported stays loaded, as cells in a kernel); another run, a process that held a
secret, and a process a timeout stopped are never handed on; a run's end, the idle time
and the limit end kept processes. Real step processes; the run-level tests on the real
Temporal dev server.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

import flowat_kernel as flowat
from flowat_kernel.engine.cells import kept as kept_module
from flowat_kernel.engine.cells import run_code
from flowat_kernel.engine.cells.kept import KeptProcesses, kept, release_run
from flowat_kernel.engine.cells.pool import StepChild, pool
from flowat_kernel.engine.executor import StepCodeError
from flowat_kernel.errors import ConfigError
from flowat_kernel.spec import StepSpec
from flowat_kernel.step_context import StepScope
from flowat_kernel.testing import cells
from tests.engine.processes import alive, gone

_PROBE = (
    "import os, sys\nleaked = 'leak' in globals()\nleak = 1\n"
    "seen = getattr(sys.modules['json'], 'flowat_mark', None)\n"
    "sys.modules['json'].flowat_mark = MARK\npid = os.getpid()"
)


def _ended(child: StepChild, seconds: float = 10) -> bool:
    """Whether ``child``'s connection shows it ended (EOF) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while child.waiting():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _probe(run_id: str, mark: str, keep: bool = True, **fields: Any) -> dict[str, Any]:
    step = StepSpec(
        name="probe",
        source=_PROBE.replace("MARK", repr(mark)),
        exports=("leaked", "seen", "pid"),
        **fields,
    )
    scope = StepScope(run_id=run_id, step="probe")
    return run_code(step, {}, scope, keep_for=run_id if keep else None).exports


@pytest.fixture
def fresh_keeper(monkeypatch: pytest.MonkeyPatch) -> Iterator[KeptProcesses]:
    """This test's own kept processes (read from the environment as a worker would)."""
    monkeypatch.setattr(kept_module, "_kept", None)
    keeper = kept()
    yield keeper
    keeper.close()
    monkeypatch.setattr(kept_module, "_kept", None)


def test_a_runs_next_step_takes_its_process_with_a_fresh_namespace(
    fresh_keeper: KeptProcesses,
) -> None:
    first = _probe("run-a", "a1")
    second = _probe("run-a", "a2")
    assert second["pid"] == first["pid"] != os.getpid()
    # A fresh namespace for each step; module state stays, as between notebook cells.
    assert first["leaked"] is False and second["leaked"] is False
    assert first["seen"] is None and second["seen"] == "a1"
    assert fresh_keeper.count() == 1


def test_another_run_never_takes_it(fresh_keeper: KeptProcesses) -> None:
    mine = _probe("run-a", "a")
    theirs = _probe("run-b", "b")
    assert theirs["pid"] != mine["pid"]
    assert theirs["seen"] is None  # nothing of run-a's steps in run-b's process
    assert _probe("run-a", "a2")["pid"] == mine["pid"]
    assert _probe("run-b", "b2")["pid"] == theirs["pid"]


def test_without_a_run_to_keep_for_every_step_has_its_own_process(
    fresh_keeper: KeptProcesses,
) -> None:
    first = _probe("run-a", "a", keep=False)
    second = _probe("run-a", "a", keep=False)
    assert first["pid"] != second["pid"]
    assert second["seen"] is None
    assert fresh_keeper.count() == 0
    assert gone(first["pid"])


def test_the_runs_end_ends_its_process(fresh_keeper: KeptProcesses) -> None:
    pid = _probe("run-a", "a")["pid"]
    assert alive(pid)
    release_run("run-a")
    assert gone(pid)
    assert fresh_keeper.count() == 0
    assert _probe("run-a", "a2")["seen"] is None  # a new process


def test_a_timed_out_step_is_not_handed_on(fresh_keeper: KeptProcesses) -> None:
    first = _probe("run-a", "a")
    step = StepSpec(name="slow", source="import time\ntime.sleep(60)")
    with pytest.raises(StepCodeError) as failed:
        run_code(
            step,
            {},
            StepScope(run_id="run-a", step="slow"),
            deadline=time.monotonic() + 1,
            keep_for="run-a",
        )
    assert failed.value.exc_type == "StepTimeout"
    assert gone(first["pid"])  # the slow step took it, and was stopped with it
    after = _probe("run-a", "a2")
    assert after["pid"] != first["pid"] and after["seen"] is None


def test_a_failing_step_hands_its_process_on(fresh_keeper: KeptProcesses) -> None:
    first = _probe("run-a", "a")
    step = StepSpec(name="bad", source="raise ValueError('no')")
    with pytest.raises(StepCodeError):
        run_code(step, {}, StepScope(run_id="run-a", step="bad"), keep_for="run-a")
    assert _probe("run-a", "a2")["pid"] == first["pid"]


def test_a_kept_process_that_died_is_replaced(fresh_keeper: KeptProcesses) -> None:
    first = _probe("run-a", "a")
    os.kill(first["pid"], 9)
    assert gone(first["pid"])
    # The kernel closes a killed process's sockets a moment after it is gone.
    assert _ended(fresh_keeper._idle["run-a"][0])
    after = _probe("run-a", "a2")  # not an error: a fresh process runs it
    assert after["pid"] != first["pid"] and after["seen"] is None


def test_idle_processes_end_and_the_limit_holds() -> None:
    keeper = KeptProcesses(limit=1, idle_seconds=0.5)
    one, two = pool().take(), pool().take()
    try:
        assert keeper.keep("run-a", one)
        assert not keeper.keep("run-b", two)  # at the limit: the caller ends it
        assert not keeper.keep("run-a", two)  # the run already has one
        assert not keeper.keep("", two)
        deadline = time.monotonic() + 10
        while keeper.count() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert keeper.count() == 0
        assert gone(one.pid)
        assert keeper.take("run-a") is None
    finally:
        one.close()
        two.close()
        keeper.close()


def test_the_limit_is_a_setting_and_a_bad_one_says_what_to_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kept_module, "_kept", None)
    monkeypatch.setenv("FLOWAT_STEP_KEEP", "0")
    assert kept().limit == 0
    first = _probe("run-a", "a")
    second = _probe("run-a", "a2")
    assert first["pid"] != second["pid"]
    monkeypatch.setattr(kept_module, "_kept", None)
    monkeypatch.setenv("FLOWAT_STEP_KEEP", "many")
    with pytest.raises(ConfigError, match=r"FLOWAT_STEP_KEEP='many'.*FLOWAT_STEP_KEEP=16"):
        kept()
    monkeypatch.setattr(kept_module, "_kept", None)


def test_a_chain_shares_a_process_but_not_with_a_secret(temporal: str, workflow_name: str) -> None:
    """End to end: steps after a secret get a new process; the run's end ends it."""
    name = "kept_secret"
    flowat.set_secret(name, "kept-canary-value")
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step one --local\nimport os\npid1 = os.getpid()",
            "%%flowat step two --local --after one\nimport os\npid2 = os.getpid()",
            f"%%flowat step three --after two\nimport os\nvalue = flowat.secret({name!r})"
            ".reveal()\npid3 = os.getpid()\nsize = len(value)",
            "%%flowat step four --local --after three\nimport os, gc\npid4 = os.getpid()\n"
            "found = any(isinstance(o, str) and 'kept-canary' in o for o in gc.get_objects())",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    out = run.outputs
    pids = [out["one"]["pid1"], out["two"]["pid2"], out["three"]["pid3"], out["four"]["pid4"]]
    assert pids[0] == pids[1] == pids[2]  # one process for the run's steps...
    assert pids[3] != pids[2]  # ...until one revealed a secret: it ended with that step
    assert out["four"]["found"] is False
    assert gone(pids[3])  # the run's end ended the last one
    again = flowat.run(workflow_name)
    assert again.status == "succeeded", again.error
    assert again.outputs["one"]["pid1"] not in pids  # another run: another process
