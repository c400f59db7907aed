"""Endpoints: concurrency limits of a workflow and the organization's default.

Read like workflows (``workflows:read``) and changed like them (``workflows:write``:
Editors and up; a Viewer is refused 403), as ``flowat limits`` is.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, endpoint
from flowat_kernel.server.state import workspace

__all__ = ["ENDPOINTS"]


class LimitBody(BaseModel):
    """A concurrency limit: how many runs at once, and what a new run does when full."""

    model_config = ConfigDict(extra="forbid")

    max_concurrent_runs: int = Field(
        ge=1, le=100_000, description="at most this many runs of the workflow at once"
    )
    when_full: Literal["queue", "skip", "cancel-oldest"] = Field(
        default="queue",
        description="queue: wait in line (status queued); skip: record the run skipped "
        "(reason limit); cancel-oldest: cancel the oldest running run",
    )


@endpoint(
    "GET",
    "/workflows/{workflow}/limits",
    "workflows:read",
    "A workflow's concurrency limit, the organization's default, and its runs running and queued",
)
def workflow_limits(call: Call) -> Reply:
    return 200, workspace(call.who).limit(call.path["workflow"])


@endpoint(
    "PUT",
    "/workflows/{workflow}/limits",
    "workflows:write",
    "Set a workflow's concurrency limit",
    body=LimitBody,
)
def set_workflow_limits(call: Call) -> Reply:
    body = call.model(LimitBody)
    door = workspace(call.who)
    return 200, door.set_limit(
        call.path["workflow"], body.max_concurrent_runs, body.when_full
    ).as_dict()


@endpoint("DELETE", "/workflows/{workflow}/limits", "workflows:write", "Remove a workflow's limit")
def clear_workflow_limits(call: Call) -> Reply:
    workflow = call.path["workflow"]
    door = workspace(call.who)
    door.limit(workflow)  # 404 for a workflow that is not there
    return 200, {"workflow": workflow, "cleared": door.clear_limit(workflow)}


@endpoint("GET", "/limits", "workflows:read", "The organization's default concurrency limit")
def org_limits(call: Call) -> Reply:
    return 200, workspace(call.who).limit(None)


@endpoint(
    "PUT",
    "/limits",
    "workflows:write",
    "Set the organization's default concurrency limit (each workflow without its own)",
    body=LimitBody,
)
def set_org_limits(call: Call) -> Reply:
    body = call.model(LimitBody)
    return 200, workspace(call.who).set_limit(
        None, body.max_concurrent_runs, body.when_full
    ).as_dict()


@endpoint("DELETE", "/limits", "workflows:write", "Remove the organization's default limit")
def clear_org_limits(call: Call) -> Reply:
    return 200, {"workflow": None, "cleared": workspace(call.who).clear_limit(None)}


ENDPOINTS: list[Endpoint] = [
    workflow_limits,
    set_workflow_limits,
    clear_workflow_limits,
    org_limits,
    set_org_limits,
    clear_org_limits,
]
