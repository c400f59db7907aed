"""Endpoints: task queues' backlog, pollers and oldest task (``flowat queues``)."""

from __future__ import annotations

from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, Query, endpoint
from flowat_kernel.server.state import workspace

__all__ = ["ENDPOINTS"]


@endpoint(
    "GET",
    "/queues",
    "runs:read",
    "Each task queue's backlog, pollers and age of its oldest task (for autoscaling)",
    query=(
        Query(
            "name",
            description="comma-separated queues (default: the shared queue and every queue "
            "a registered worker polls)",
        ),
    ),
)
def list_queues(call: Call) -> Reply:
    raw = call.text("name", max_length=4000) or ""
    names = [part.strip() for part in raw.split(",") if part.strip()] or None
    report = workspace(call.who).queues(names)
    return 200, {"items": [queue.as_dict() for queue in report]}


ENDPOINTS: list[Endpoint] = [list_queues]
