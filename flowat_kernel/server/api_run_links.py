"""Endpoints for front ends that look at one run: its report notebook, its Temporal page."""

from __future__ import annotations

import json

from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, endpoint
from flowat_kernel.server.state import workspace

__all__ = ["ENDPOINTS"]


@endpoint(
    "GET",
    "/runs/{run_id}/report",
    "runs:read",
    "The run as an executed notebook (nbformat 4 JSON, papermill's layout), masked as stored",
)
def get_report(call: Call) -> Reply:
    notebook = workspace(call.who).report(call.path["run_id"])
    return 200, json.loads(json.dumps(notebook, default=str))


@endpoint(
    "GET",
    "/runs/{run_id}/temporal",
    "runs:read",
    "The run's Temporal workflow id and namespace, and its page in Temporal's Web UI",
)
def get_temporal_link(call: Call) -> Reply:
    return 200, workspace(call.who).temporal_link(call.path["run_id"])


ENDPOINTS: list[Endpoint] = [get_report, get_temporal_link]
