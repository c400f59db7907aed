"""Schedules on the real Temporal dev server: firing on an interval, following the latest
version or pinned, triggered now, paused, deleted, listed through the API, the CLI and
the magic."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from flowat_kernel.cli.main import main
from flowat_kernel.notebook.trigger_magics import ScheduleTable
from flowat_kernel.runtime import get_runtime
from flowat_kernel.triggers.worker import ensure_trigger_worker, stop_trigger_worker
from tests.server.helpers import Api, publish


@pytest.fixture
def triggers(temporal: str) -> Iterator[str]:
    ensure_trigger_worker(get_runtime())
    yield temporal
    stop_trigger_worker(get_runtime())


def _scheduled_runs(api: Api, workflow: str, count: int, timeout: float = 45) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        page = api.get("/runs", params={"workflow": workflow, "trigger": "schedule"}).json()
        done = [r for r in page["items"] if r["status"] == "succeeded"]
        if len(done) >= count or time.monotonic() > deadline:
            return done
        time.sleep(0.3)


def test_interval_schedule_fires_and_follows_the_latest_version(
    api: Api, triggers: str, workflow_name: str
) -> None:
    publish(workflow_name, body="out = n * 2")
    reply = api.post(
        "/schedules",
        json={"workflow": workflow_name, "every": "2s", "parameters": {"n": "5"}},
    )
    assert reply.status_code == 201, reply.text
    schedule = reply.json()
    assert schedule["version"] == "latest" and schedule["next_runs"]
    fired = _scheduled_runs(api, workflow_name, 1)
    assert fired, "the schedule did not fire within 45 s"
    run = api.get(f"/runs/{fired[0]['run_id']}").json()
    assert run["version"] == 1 and run["outputs"]["work"]["out"] == 10

    assert api.post(f"/schedules/{schedule['id']}/pause").json()["paused"] is True
    publish(workflow_name, body="out = n * 3")
    before = len(_scheduled_runs(api, workflow_name, 0, timeout=0))
    assert api.post(f"/schedules/{schedule['id']}/trigger").status_code == 202
    after = _scheduled_runs(api, workflow_name, before + 1)
    newest = api.get(f"/runs/{after[0]['run_id']}").json()
    assert newest["version"] == 2 and newest["outputs"]["work"]["out"] == 15

    listed = api.get("/schedules").json()["items"]
    assert [s["id"] for s in listed if s["workflow"] == workflow_name] == [schedule["id"]]
    audit = [e["action"] for e in api.get("/audit", params={"action": "schedule"}).json()["items"]]
    assert {"schedule.created", "schedule.paused", "schedule.triggered"} <= set(audit)
    assert api.delete(f"/schedules/{schedule['id']}").status_code == 200
    assert api.get(f"/schedules/{schedule['id']}").status_code == 404


def test_pinned_schedule_from_the_magic_and_the_cli(
    api: Api,
    triggers: str,
    workflow_name: str,
    capsys: pytest.CaptureFixture[str],
    shell: Any,
) -> None:
    publish(workflow_name, body="out = n * 2")
    publish(workflow_name, body="out = n * 3")
    table = shell.run_line_magic(
        "flowat",
        f'schedule {workflow_name} "0 * * * *" -p n=7 --version 1 --timezone Europe/Paris --paused',
    )
    assert isinstance(table, ScheduleTable) and "Europe/Paris" in table._repr_html_()
    schedule_id = table.items[0].id
    # The CLI closes this process's runtime: stop its trigger worker first, gracefully, so
    # that Temporal does not hand the next task to a poll that nobody reads any more.
    stop_trigger_worker(get_runtime())
    assert main(["schedules", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    mine = next(s for s in listed if s["id"] == schedule_id)
    assert mine["cron"] == "0 * * * *" and mine["paused"] is True and mine["version"] == 1
    runtime = get_runtime()  # the CLI closed this process's runtime and its workers
    runtime.call(runtime.ensure_worker())
    ensure_trigger_worker(runtime)
    assert api.post(f"/schedules/{schedule_id}/trigger").status_code == 202
    fired = _scheduled_runs(api, workflow_name, 1)
    run = api.get(f"/runs/{fired[0]['run_id']}").json()
    assert run["version"] == 1 and run["outputs"]["work"]["out"] == 14
    assert main(["schedules", "delete", schedule_id]) == 0


def test_bad_schedules_are_refused_clearly(api: Api, temporal: str, workflow_name: str) -> None:
    publish(workflow_name)
    cases = [
        {"workflow": workflow_name, "cron": "not a cron"},
        {"workflow": workflow_name, "cron": "0 * * * *", "timezone": "Mars/Olympus"},
        {"workflow": workflow_name, "cron": "0 * * * *", "overlap": "sometimes"},
        {"workflow": workflow_name, "cron": "0 * * * *", "parameters": {"zzz": 1}},
        {"workflow": workflow_name},
        {"workflow": workflow_name, "every": "soon"},
    ]
    for body in cases:
        reply = api.post("/schedules", json=body)
        assert reply.status_code == 422, (body, reply.text)
        assert reply.json()["error"]["message"]
    assert api.post("/schedules", json={"workflow": "nope", "cron": "0 * * * *"}).status_code == 404
