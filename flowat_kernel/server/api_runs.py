"""Endpoints: start runs, list them with filters and pages, status, steps, outputs, cancel."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flowat_kernel.server import runs
from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, Query, endpoint
from flowat_kernel.server.state import workspace

__all__ = ["ENDPOINTS"]

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "timed_out", "skipped")


class StartBody(BaseModel):
    """Start a run: parameters (coerced to the inputs' types), version, waiting."""

    model_config = ConfigDict(extra="forbid")

    parameters: dict[str, Any] = {}
    version: int | None = Field(default=None, ge=1, le=10**9)
    wait_seconds: float = Field(default=0, ge=0, le=runs.MAX_WAIT_SECONDS)
    timeout_seconds: float | None = Field(default=None, gt=0, le=10**7)


@endpoint(
    "POST",
    "/workflows/{workflow}/runs",
    "runs:write",
    "Start a run (202 at once, or 200 with the result when it ends within wait_seconds)",
    body=StartBody,
    status=202,
)
def start_run(call: Call) -> Reply:
    workflow = call.path["workflow"]
    body = call.model(StartBody)
    call.who.require("runs:write", workflow)
    started = runs.start(
        call.who,
        workflow,
        version=body.version,
        parameters=body.parameters,
        trigger="rest",
        timeout_seconds=body.timeout_seconds,
    )
    return runs.waited_reply(call.who, started.run_id, body.wait_seconds, started)


@endpoint(
    "GET",
    "/runs",
    "runs:read",
    "List runs, newest first (filters and cursor pagination)",
    query=(
        Query("workflow", description="only this workflow's runs"),
        Query("status", description="one of " + ", ".join(STATUSES)),
        Query("trigger", description="rest, webhook, schedule, notebook, cli, ..."),
        Query("limit", "integer", "page size (1-200, default 50)", 1, 200),
        Query("cursor", description="next_cursor of the previous page"),
    ),
)
def list_runs(call: Call) -> Reply:
    status = call.text("status")
    if status is not None and status not in STATUSES:
        from flowat_kernel.server.errors import ApiError

        raise ApiError(400, "bad_query", f"status must be one of {', '.join(STATUSES)}")
    page = runs.list_runs(
        call.who,
        workflow=call.text("workflow"),
        status=status,
        trigger=call.text("trigger"),
        limit=call.integer("limit", 50, 1, 200),
        cursor=call.text("cursor", max_length=400),
    )
    return 200, page


@endpoint("GET", "/runs/{run_id}", "runs:read", "A run: status, outputs, steps, error")
def get_run(call: Call) -> Reply:
    return 200, runs.run_document(runs.visible_run(call.who, call.path["run_id"]))


@endpoint("GET", "/runs/{run_id}/steps", "runs:read", "A run's steps with timings and errors")
def get_steps(call: Call) -> Reply:
    document = runs.run_document(runs.visible_run(call.who, call.path["run_id"]))
    return 200, {"items": document["steps"]}


@endpoint("GET", "/runs/{run_id}/outputs", "runs:read", "A run's exported values by step")
def get_outputs(call: Call) -> Reply:
    document = runs.run_document(runs.visible_run(call.who, call.path["run_id"]))
    return 200, {"run_id": document["run_id"], "outputs": document["outputs"]}


@endpoint("POST", "/runs/{run_id}/cancel", "runs:write", "Cancel a running run", status=202)
def cancel_run(call: Call) -> Reply:
    cancelled = workspace(call.who).cancel(call.path["run_id"])
    return 202, runs.run_document(cancelled.record)


ENDPOINTS: list[Endpoint] = [start_run, list_runs, get_run, get_steps, get_outputs, cancel_run]
