"""GET /api/v1/runs/{run_id}/logs: each step's logs as stored, masked, never another
organization's. Real API server on loopback, real Temporal dev server."""

from __future__ import annotations

import flowat_kernel as flowat
from flowat_kernel.access import Role
from flowat_kernel.testing import cells
from tests.server.helpers import Api, new_org

PRINTS = (
    "%%flowat step talk\n"
    "print('hello from talk', n)\n"
    "print('token', flowat.secret('logs_canary').reveal())\n"
    "out = n"
)
FAILS = "%%flowat step boom --retries 0\nprint('about to fail')\nraise KeyError('gone')"


def test_logs_of_a_run_masked_and_per_step(api: Api, temporal: str, workflow_name: str) -> None:
    flowat.set_secret("logs_canary", "canary-value-7c1f")
    flowat.publish(workflow_name, cells=cells(PRINTS, FAILS, parameters="n = 1"))
    reply = api.post(
        f"/workflows/{workflow_name}/runs", json={"parameters": {"n": 3}, "wait_seconds": 60}
    )
    assert reply.status_code == 200, reply.text
    run = reply.json()
    assert run["status"] == "failed", run
    logs = api.get(f"/runs/{run['run_id']}/logs")
    assert logs.status_code == 200, logs.text
    items = {i["name"]: i for i in logs.json()["items"]}
    assert list(items) == ["talk", "boom"]
    assert "hello from talk 3" in items["talk"]["logs"]
    assert "canary-value-7c1f" not in logs.text
    assert "about to fail" in items["boom"]["logs"]

    # another organization's member is told the run does not exist
    other = new_org("logs")
    foreign = api.as_(other.keys[Role.OWNER]).get(f"/runs/{run['run_id']}/logs")
    assert foreign.status_code == 404, foreign.text
    assert "canary" not in foreign.text and "hello" not in foreign.text
    assert api.get("/runs/no-such-run/logs").status_code == 404
    assert api.as_(None).get(f"/runs/{run['run_id']}/logs").status_code == 401
