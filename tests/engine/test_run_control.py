"""Cancel, run timeouts and re-runs from the failed step, on the real Temporal dev server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.cli.main import main as cli
from flowat_kernel.compiler import Cell
from flowat_kernel.testing import cells


def _slow_steps(marker: Path) -> list[Cell]:
    """A quick step, then one that ticks into ``marker`` for up to 60 s, then a last one."""
    return cells(
        "%%flowat step first\nvalue = 1",
        "%%flowat step slow --retries 0\nimport time, pathlib\n"
        f"_path = pathlib.Path({str(marker)!r})\n"
        "for _ in range(600):\n"
        "    _path.write_text(str(time.time()))\n"
        "    time.sleep(0.1)\n"
        "slow = value + 1",
        "%%flowat step last\nlast = slow + 1",
    )


def _wait_for(path: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_cancel_stops_running_steps_and_records_the_run_cancelled(
    temporal: str, workflow_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWAT_HEARTBEAT_TIMEOUT", "1")
    from flowat_kernel.runtime import reset_runtime

    reset_runtime()
    marker = tmp_path / "tick"
    flowat.publish(workflow_name, cells=_slow_steps(marker))
    queued = flowat.run(workflow_name, wait=False, worker="always")
    _wait_for(marker)
    flowat.cancel(queued.run_id)
    run = flowat.wait(queued.run_id, timeout=60)

    assert run.status == "cancelled"
    states = {s.name: s.status for s in run.record.steps}
    assert states == {"first": "succeeded", "slow": "cancelled", "last": "cancelled"}
    # The step's thread really stopped: it no longer ticks.
    time.sleep(0.5)
    stamp = marker.read_text()
    time.sleep(0.6)
    assert marker.read_text() == stamp
    with pytest.raises(flowat.FlowAtError, match="already finished"):
        flowat.cancel(queued.run_id)


def test_a_run_past_its_timeout_ends_timed_out(
    temporal: str, workflow_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWAT_HEARTBEAT_TIMEOUT", "1")
    from flowat_kernel.runtime import reset_runtime

    reset_runtime()
    flowat.publish(workflow_name, cells=_slow_steps(tmp_path / "tick"))
    started = time.monotonic()
    run = flowat.run(workflow_name, timeout=2)
    assert time.monotonic() - started < 30
    assert run.status == "timed_out"
    assert run.error is not None and run.error["type"] == "RunTimedOut"
    assert "2s" in run.error["message"]
    assert {s.name: s.status for s in run.record.steps}["slow"] == "cancelled"
    with pytest.raises(flowat.FlowAtError, match="positive"):
        flowat.run(workflow_name, timeout=0)


def test_rerun_reuses_succeeded_steps_and_runs_the_fixed_one(
    temporal: str, workflow_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    counter = tmp_path / "executions"

    def version(fixed: bool) -> list[Cell]:
        return cells(
            "%%flowat step load\nimport pathlib\n"
            f"_c = pathlib.Path({str(counter)!r})\n"
            "_c.write_text(_c.read_text() + 'load ' if _c.exists() else 'load ')\n"
            "rows = list(range(n))",
            "%%flowat step local_sum --local\ntotal = sum(rows)",
            "%%flowat step divide --retries 0\n"
            + ("ratio = total / len(rows)" if fixed else "ratio = total / 0"),
            "%%flowat step report\nreport = {'total': total, 'ratio': ratio}",
            parameters="n = 4",
        )

    flowat.publish(workflow_name, cells=version(fixed=False))
    failed = flowat.run(workflow_name, parameters={"n": 5})
    assert failed.status == "failed"
    assert failed.error is not None and failed.error["step"] == "divide"
    assert counter.read_text() == "load "

    # The same version again: the failing step fails again, nothing before it reruns.
    again = flowat.rerun(failed.run_id)
    assert again.status == "failed" and counter.read_text() == "load "

    flowat.publish(workflow_name, cells=version(fixed=True))
    fixed = flowat.rerun(failed.run_id, version="latest")
    assert fixed.status == "succeeded", fixed.error
    assert fixed.version == 2 and fixed.record.trigger == "rerun"
    assert fixed.record.parameters == {"n": 5}
    assert fixed.outputs["report"]["report"] == {"total": 10, "ratio": 2.0}
    steps = {s.name: s for s in fixed.record.steps}
    assert steps["load"].attempts == 0 and steps["local_sum"].attempts == 0  # reused
    assert steps["divide"].attempts == 1 and steps["report"].attempts == 1
    assert counter.read_text() == "load "  # load never ran again

    # From the command line, a finished, succeeded run re-runs with everything reused.
    assert cli(["rerun", fixed.run_id, "--json"]) == 0
    assert '"status": "succeeded"' in capsys.readouterr().out
    assert counter.read_text() == "load "


def test_rerun_and_cancel_refuse_what_they_cannot_do(temporal: str, workflow_name: str) -> None:
    with pytest.raises(flowat.NotFoundError):
        flowat.rerun("no-such-run")
    with pytest.raises(flowat.NotFoundError):
        flowat.cancel("no-such-run")


def test_idempotency_key_is_stable_across_attempts(temporal: str, workflow_name: str) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step flaky --retries 2\n"
            "import json, pathlib, tempfile\n"
            "_seen = pathlib.Path(tempfile.gettempdir()) / (flowat.current_step().run_id + '.k')\n"
            "_keys = json.loads(_seen.read_text()) if _seen.exists() else []\n"
            "_keys.append([flowat.current_step().attempt, flowat.idempotency_key('charge')])\n"
            "_seen.write_text(json.dumps(_keys))\n"
            "if len(_keys) < 3:\n"
            "    raise ConnectionError('try again')\n"
            "keys = _keys",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    keys = run.outputs["flaky"]["keys"]
    assert [attempt for attempt, _ in keys] == [1, 2, 3]
    assert len({key for _, key in keys}) == 1
    assert keys[0][1] == f"flowat:{run.run_id}:flaky:charge"
    assert flowat.current_step() is None  # outside a step
    assert flowat.idempotency_key() != flowat.idempotency_key()


def test_a_shared_run_does_not_wait_for_a_worker_that_has_gone(
    temporal: str, workflow_name: str
) -> None:
    """Issue 18: FlowAt's own worker registry decides, not Temporal's poller list.

    A worker that stopped still looks alive to Temporal for about a minute; it left
    FlowAt's registry when it stopped, so the next shared run starts a worker here at
    once instead of waiting for the old one.
    """
    from flowat_kernel.runtime import get_runtime, reset_runtime

    flowat.publish(workflow_name, cells=cells("%%flowat step one\nvalue = 1"))
    assert flowat.run(workflow_name, worker="shared").status == "succeeded"
    assert get_runtime().worker_running  # none was registered: this process ran one
    reset_runtime()  # that worker stops and leaves the registry
    assert get_runtime().store.live_workers(temporal) == []
    run = flowat.run(workflow_name, worker="shared")
    assert run.status == "succeeded"
    assert get_runtime().worker_running  # taken up here at once, no unclaimed wait
