"""Endpoints: deleting runs and workflows, and retention policies (a workflow's, the org's).

Deleting takes what changing takes (``runs:write``, ``workflows:write``); a workflow's
retention policy is changed like the workflow, the organization's default needs
``retention:write`` (Administrator, Owner).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, Query, endpoint
from flowat_kernel.server.errors import ApiError
from flowat_kernel.server.state import workspace

__all__ = ["ENDPOINTS"]

_FORCE = Query("force", description="true: cancel or terminate active runs first (false)")


class RetentionBody(BaseModel):
    """A retention policy: keep finished runs ``days`` days and/or the newest ``keep``."""

    model_config = ConfigDict(extra="forbid")

    days: int | None = Field(default=None, ge=1, le=36500, description="keep runs this many days")
    keep: int | None = Field(
        default=None, ge=1, le=10_000_000, description="keep the newest this many finished runs"
    )


def _force(call: Call) -> bool:
    raw = (call.text("force", "false", max_length=5) or "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise ApiError(400, "bad_query", "query parameter force must be true or false")
    return raw in ("true", "1")


def _policy_reply(call: Call, workflow: str | None) -> Reply:
    body = call.model(RetentionBody)
    if body.days is None and body.keep is None:
        raise ApiError(422, "invalid_body", "give days and/or keep")
    policy = workspace(call.who).set_retention(workflow, days=body.days, keep=body.keep)
    return 200, policy.as_dict()


@endpoint(
    "DELETE",
    "/runs/{run_id}",
    "runs:write",
    "Delete a run: records, logs, outputs, artifacts, events and its Temporal execution",
    query=(_FORCE,),
)
def delete_run(call: Call) -> Reply:
    report = workspace(call.who).delete_runs([call.path["run_id"]], force=_force(call))
    return 200, {"deleted": report.as_dict()}


@endpoint(
    "DELETE",
    "/workflows/{workflow}",
    "workflows:write",
    "Delete a workflow with every version, run, schedule, webhook and alert of it",
    query=(_FORCE,),
)
def delete_workflow(call: Call) -> Reply:
    summary = workspace(call.who).delete_workflow(call.path["workflow"], force=_force(call))
    return 200, {"deleted": summary}


@endpoint(
    "GET",
    "/workflows/{workflow}/retention",
    "workflows:read",
    "A workflow's retention policy, and the organization's default",
)
def workflow_retention(call: Call) -> Reply:
    workflow = call.path["workflow"]
    door = workspace(call.who)
    door.version(workflow)  # 404 for a workflow that is not there
    policies = door.retention(workflow)
    own = next((p for p in policies if p.workflow == workflow), None)
    default = next((p for p in policies if p.workflow is None), None)
    return 200, {
        "workflow": workflow,
        "policy": own.as_dict() if own else None,
        "organization_default": default.as_dict() if default else None,
    }


@endpoint(
    "PUT",
    "/workflows/{workflow}/retention",
    "workflows:write",
    "Set a workflow's retention policy",
    body=RetentionBody,
)
def set_workflow_retention(call: Call) -> Reply:
    return _policy_reply(call, call.path["workflow"])


@endpoint(
    "DELETE", "/workflows/{workflow}/retention", "workflows:write", "Remove a workflow's policy"
)
def clear_workflow_retention(call: Call) -> Reply:
    removed = workspace(call.who).clear_retention(call.path["workflow"])
    return 200, {"removed": removed.as_dict()}


@endpoint("GET", "/retention", "workflows:read", "The organization's retention policies")
def list_retention(call: Call) -> Reply:
    return 200, {"items": [p.as_dict() for p in workspace(call.who).retention()]}


@endpoint(
    "PUT",
    "/retention",
    "retention:write",
    "Set the organization's default retention policy",
    body=RetentionBody,
)
def set_org_retention(call: Call) -> Reply:
    return _policy_reply(call, None)


@endpoint("DELETE", "/retention", "retention:write", "Remove the organization's default policy")
def clear_org_retention(call: Call) -> Reply:
    removed = workspace(call.who).clear_retention(None)
    return 200, {"removed": removed.as_dict()}


@endpoint(
    "POST",
    "/retention/apply",
    "retention:write",
    "Apply the organization's retention policies now (the worker also does, periodically)",
)
def apply_retention(call: Call) -> Reply:
    return 200, {"deleted": workspace(call.who).apply_retention().as_dict()}


ENDPOINTS: list[Endpoint] = [
    delete_run,
    delete_workflow,
    workflow_retention,
    set_workflow_retention,
    clear_workflow_retention,
    list_retention,
    set_org_retention,
    clear_org_retention,
    apply_retention,
]
