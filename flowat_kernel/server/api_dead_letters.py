"""Endpoints: the dead-letter queue (flowat dlq list, show, retry, discard).

An entry of another organization, or of a workflow the key is not limited to, is
answered exactly as a missing one (404). A retry starts its re-run on the shared task
queue and marks the entry ``retried`` once the re-run has started; of two concurrent
retries one starts a run and the other is refused (409).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from flowat_kernel.server import runs
from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, Query, endpoint
from flowat_kernel.server.errors import ApiError
from flowat_kernel.server.state import workspace

__all__ = ["ENDPOINTS"]

STATUSES = ("parked", "retrying", "retried", "discarded", "all")


class RetryBody(BaseModel):
    """How long to wait for the re-run."""

    model_config = ConfigDict(extra="forbid")

    wait_seconds: float = Field(
        default=0,
        ge=0,
        le=runs.MAX_WAIT_SECONDS,
        description="wait up to this many seconds for the re-run to finish (200 if it did)",
    )


@endpoint(
    "GET",
    "/dead-letters",
    "dlq:read",
    "Dead letters, newest first: steps that exhausted their retries (flowat dlq list)",
    query=(
        Query("status", description="parked (default), retrying, retried, discarded or all"),
        Query("limit", "integer", "at most this many (1-200, default 50)", 1, 200),
    ),
)
def list_dead_letters(call: Call) -> Reply:
    status = call.text("status", "parked")
    if status not in STATUSES:
        raise ApiError(400, "bad_query", f"status must be one of {', '.join(STATUSES)}")
    letters = workspace(call.who).dlq_list(
        None if status == "all" else status, call.integer("limit", 50, 1, 200)
    )
    return 200, {"items": [letter.as_dict() for letter in letters]}


@endpoint(
    "GET",
    "/dead-letters/{letter_id}",
    "dlq:read",
    "One dead letter: context, error and its input as shown, masked (flowat dlq show)",
)
def show_dead_letter(call: Call) -> Reply:
    return 200, workspace(call.who).dlq_show(call.path["letter_id"])


@endpoint(
    "POST",
    "/dead-letters/{letter_id}/retry",
    "runs:write",
    "Re-drive a dead letter once from its failed step on the latest version "
    "(flowat dlq retry); the re-run",
    body=RetryBody,
    status=202,
)
def retry_dead_letter(call: Call) -> Reply:
    body = call.model(RetryBody)
    started = workspace(call.who).dlq_retry(call.path["letter_id"], wait=False, worker="shared")
    return runs.waited_reply(call.who, started.run_id, body.wait_seconds)


@endpoint(
    "POST",
    "/dead-letters/{letter_id}/discard",
    "runs:write",
    "Discard a dead letter; it stays listed with status=all (flowat dlq discard)",
)
def discard_dead_letter(call: Call) -> Reply:
    door = workspace(call.who)
    door.dlq_discard(call.path["letter_id"])
    return 200, door.dlq_show(call.path["letter_id"])


ENDPOINTS: list[Endpoint] = [
    list_dead_letters,
    show_dead_letter,
    retry_dead_letter,
    discard_dead_letter,
]
