"""GET /api/v1/queues: task queues' backlog and pollers from Temporal, any member may read."""

from __future__ import annotations

import uuid

from flowat_kernel.access import Role
from tests.server.helpers import Api, new_org


def test_a_viewer_reads_queues_and_a_bad_name_says_what_to_fix(api: Api) -> None:
    viewer = api.as_(new_org("queues").keys[Role.VIEWER])
    empty = f"nobody-{uuid.uuid4().hex[:8]}"
    reply = viewer.get("/queues", params={"name": f"{empty}, {empty}"})
    assert reply.status_code == 200, reply.text
    (item,) = reply.json()["items"]  # named twice, reported once
    assert item["name"] == empty
    assert item["backlog"] == 0 and item["pollers"] == []
    assert set(item["activity"]) >= {"backlog", "oldest_task_seconds", "pollers"}

    listed = viewer.get("/queues")  # default: the shared queue, and registered workers' queues
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"], listed.text

    bad = viewer.get("/queues", params={"name": "a b"})
    assert bad.status_code == 422, bad.text
    assert "name a task queue" in bad.json()["error"]["message"]
