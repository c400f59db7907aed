"""Endpoint: a run's step logs, for front ends that show a run without a kernel.

The logs are what the steps printed, redacted and bounded when the worker stored them
(secret values never reach the store), so they are served as stored.
"""

from __future__ import annotations

from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, endpoint
from flowat_kernel.server.runs import visible_run

__all__ = ["ENDPOINTS"]


@endpoint("GET", "/runs/{run_id}/logs", "runs:read", "A run's step logs, as stored (masked)")
def get_logs(call: Call) -> Reply:
    record = visible_run(call.who, call.path["run_id"])
    items = [{"name": step.name, "logs": step.logs or ""} for step in record.steps]
    return 200, {"run_id": record.run_id, "items": items}


ENDPOINTS: list[Endpoint] = [get_logs]
