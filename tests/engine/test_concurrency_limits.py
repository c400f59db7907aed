"""Concurrency limits on the real Temporal dev server: a burst, and each policy when full.

What is observed comes from the run records the store kept: each admitted run's slot
is held from its ``started_at`` (set in the admission transaction) to its ``ended_at``
(set when its end is recorded), and its steps ran within that window.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.api import default_workspace
from flowat_kernel.store import RunRecord
from flowat_kernel.testing import cells


def _publish_gated(name: str, gate: Path) -> None:
    """One step that waits until ``gate`` exists (a run held open as long as a test wants)."""
    flowat.publish(
        name,
        cells=cells(
            "%%flowat step hold --retries 0\nimport pathlib, time\n"
            f"while not pathlib.Path({str(gate)!r}).exists():\n"
            "    time.sleep(0.05)\n"
            "held = 1",
        ),
    )


def _wait_status(run_id: str, wanted: set[str], seconds: float = 60) -> RunRecord:
    store = default_workspace().services.store
    deadline = time.monotonic() + seconds
    while True:
        record = store.get_run(run_id)
        if record.status in wanted:
            return record
        assert time.monotonic() < deadline, f"run {run_id} stayed {record.status}"
        time.sleep(0.1)


def _cli(*words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowat_kernel.cli.main", *words],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _most_at_once(records: list[RunRecord]) -> int:
    """The most slot windows [started_at, ended_at] open at one instant."""
    events: list[tuple[datetime, int]] = []
    for record in records:
        assert record.started_at is not None and record.ended_at is not None, record
        events.append((record.started_at, 1))
        events.append((record.ended_at, -1))
    most = now = 0
    for _, change in sorted(events):  # at the same instant an end comes first
        now += change
        most = max(most, now)
    return most


@pytest.mark.timeout(1800)  # 200 runs three at a time, on a shared machine
def test_a_burst_of_200_runs_never_runs_more_than_3_at_once(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells("%%flowat step work --local\nimport time\ntime.sleep(0.05)\nx = 1"),
    )
    default_workspace().set_limit(workflow_name, 3, "queue")
    started = [flowat.run(workflow_name, wait=False, worker="always").run_id for _ in range(200)]
    records = [flowat.wait(run_id, timeout=900).record for run_id in started]
    assert [r.status for r in records].count("succeeded") == 200, {r.status for r in records}
    most = _most_at_once(records)
    steps = [s for r in records for s in r.steps]
    step_windows = [
        RunRecord.model_validate(
            {**records[0].model_dump(), "started_at": s.started_at, "ended_at": s.ended_at}
        )
        for s in steps
    ]
    observed = tmp_path / "limits_burst_observations.json"  # kept by pytest for a look
    print(f"\nburst: at most {most} runs held slots at once; windows in {observed}")
    observed.write_text(
        json.dumps(
            {
                "runs": 200,
                "limit": 3,
                "most_runs_holding_slots_at_once": most,
                "most_steps_running_at_once": _most_at_once(step_windows),
                "windows": [
                    [r.run_id[:12], r.started_at.isoformat(), r.ended_at.isoformat()]  # type: ignore[union-attr]
                    for r in records
                ],
            },
            indent=1,
        )
    )
    assert most == 3, most  # the limit was reached, and never passed
    assert _most_at_once(step_windows) <= 3


def test_queued_runs_show_their_place_and_start_in_order(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    gate = tmp_path / "open"
    _publish_gated(workflow_name, gate)
    default_workspace().set_limit(workflow_name, 1)
    first = flowat.run(workflow_name, wait=False, worker="always").run_id
    _wait_status(first, {"running"})
    later = [flowat.run(workflow_name, wait=False, worker="always").run_id for _ in range(2)]
    store = default_workspace().services.store
    deadline = time.monotonic() + 60
    while store.queue_positions(later) != {later[0]: 1, later[1]: 2}:
        assert time.monotonic() < deadline, store.queue_positions(later)
        time.sleep(0.1)
    shown = _cli("runs", workflow_name, "--json")  # another process: this one's worker stays
    assert shown.returncode == 0, shown.stderr
    listed = {r["run_id"]: r for r in json.loads(shown.stdout)}
    assert listed[first]["status"] == "running"
    assert [listed[r]["status"] for r in later] == ["queued", "queued"]
    assert [listed[r]["queue_position"] for r in later] == [1, 2]
    # the REST API's list answers the same (GET /api/v1/runs)
    from flowat_kernel.access.service import local_principal
    from flowat_kernel.server.runs import list_runs

    page = list_runs(
        local_principal(), workflow=workflow_name, status=None, trigger=None, limit=10, cursor=None
    )
    assert {i["run_id"]: i.get("queue_position") for i in page["items"]} == {
        first: None,
        later[0]: 1,
        later[1]: 2,
    }
    gate.touch()
    records = [flowat.wait(r, timeout=120).record for r in [first, *later]]
    assert [r.status for r in records] == ["succeeded"] * 3
    starts = [r.started_at for r in records]
    assert starts == sorted(starts)  # FIFO
    assert _most_at_once(records) == 1


def test_skip_records_runs_over_the_limit_as_skipped(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    gate = tmp_path / "open"
    _publish_gated(workflow_name, gate)
    default_workspace().set_limit(None, 1, "skip")  # the organization's default
    try:
        first = flowat.run(workflow_name, wait=False, worker="always").run_id
        _wait_status(first, {"running"})
        extra = [flowat.run(workflow_name, wait=False, worker="always").run_id for _ in range(3)]
        skipped = [flowat.wait(r, timeout=60) for r in extra]
        assert {r.status for r in skipped} == {"skipped"}
        assert {r.record.error["reason"] for r in skipped} == {"limit"}  # type: ignore[index]
        gate.touch()
        assert flowat.wait(first, timeout=60).status == "succeeded"
    finally:
        default_workspace().clear_limit(None)


def test_cancel_oldest_cancels_the_running_run_to_start_the_new_one(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    gate = tmp_path / "open"
    _publish_gated(workflow_name, gate)
    default_workspace().set_limit(workflow_name, 1, "cancel-oldest")
    oldest = flowat.run(workflow_name, wait=False, worker="always").run_id
    _wait_status(oldest, {"running"})
    newer = flowat.run(workflow_name, wait=False, worker="always").run_id
    assert flowat.wait(oldest, timeout=60).status == "cancelled"
    running = _wait_status(newer, {"running", "succeeded"})
    assert running.status == "running"
    gate.touch()
    done = flowat.wait(newer, timeout=60).record
    assert done.status == "succeeded"
    assert _most_at_once([flowat.wait(oldest).record, done]) == 1


def test_a_run_cancelled_while_queued_is_recorded_cancelled_and_leaves_the_line(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    gate = tmp_path / "open"
    _publish_gated(workflow_name, gate)
    workspace = default_workspace()
    workspace.set_limit(workflow_name, 1)
    first = flowat.run(workflow_name, wait=False, worker="always").run_id
    _wait_status(first, {"running"})
    waiting, behind = (flowat.run(workflow_name, wait=False, worker="always").run_id for _ in "ab")
    store = workspace.services.store
    deadline = time.monotonic() + 60
    while store.queue_positions([behind]) != {behind: 2}:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    flowat.cancel(waiting)
    assert flowat.wait(waiting, timeout=60).status == "cancelled"
    assert store.queue_positions([behind]) == {behind: 1}
    gate.touch()
    assert flowat.wait(behind, timeout=60).status == "succeeded"
    assert flowat.wait(first, timeout=60).status == "succeeded"


@pytest.mark.timeout(180)
def test_a_terminated_slot_holder_nobody_waits_for_is_released_by_the_next_in_line(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    from flowat_kernel.runtime import get_runtime

    gate = tmp_path / "open"
    _publish_gated(workflow_name, gate)
    default_workspace().set_limit(workflow_name, 1)
    holder = flowat.run(workflow_name, wait=False, worker="always").run_id
    _wait_status(holder, {"running"})
    runtime = get_runtime()

    async def terminate() -> None:
        client = await runtime.client()
        record = runtime.store.get_run(holder)
        await client.get_workflow_handle(record.temporal_workflow_id).terminate("operator")

    runtime.call(terminate())  # its end is recorded by nobody: no one waits for it
    assert runtime.store.get_run(holder).status == "running"
    gate.touch()
    waiting = flowat.run(workflow_name, wait=False, worker="always").run_id
    assert flowat.wait(waiting, timeout=120).status == "succeeded"
    freed = runtime.store.get_run(holder)
    assert freed.status == "failed" and freed.error is not None
    assert "its concurrency slot was released" in freed.error["message"]
    assert freed.ended_at is not None and freed.ended_at <= flowat.wait(waiting).record.started_at  # type: ignore[operator]


@pytest.mark.postgres
@pytest.mark.timeout(900)
def test_two_worker_processes_on_postgresql_share_one_limit(
    temporal: str,
    workflow_name: str,
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os
    import signal

    from flowat_kernel.runtime import reset_runtime

    monkeypatch.setenv("FLOWAT_DATABASE_URL", postgres_url)
    reset_runtime()
    flowat.publish(
        workflow_name,
        cells=cells("%%flowat step work\nimport time\ntime.sleep(0.1)\nx = 1"),
    )
    door = default_workspace()
    door.set_limit(workflow_name, 3)
    log = tmp_path / "workers.log"
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "flowat_kernel.cli.main", "worker"],
            env={**os.environ},
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        for _ in range(2)
    ]
    try:
        started = [
            door.start(workflow_name, trigger="rest", worker="never").run_id for _ in range(60)
        ]
        records = [door.wait(run_id, timeout=600).record for run_id in started]
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)
    assert [r.status for r in records].count("succeeded") == 60, {r.status for r in records}
    assert _most_at_once(records) == 3
    # which worker took each run's step: its identity (PID@host) in the run's history
    from flowat_kernel.api import history

    ran_in = {
        event["activityTaskStartedEventAttributes"]["identity"].split("@")[0]
        for r in records
        for event in history(r.run_id)
        if event["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_STARTED"
    }
    assert ran_in == {str(w.pid) for w in workers}, ran_in  # both, under the one limit
