"""Endpoint: read-only SQL over the caller's organization's analytics views.

``flowat analytics sql`` over REST, scoped: see :mod:`flowat_kernel.analytics.scoped`
for what a query can reach (only this organization's events, no file) and its limits.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, endpoint
from flowat_kernel.server.state import workspace

__all__ = ["ENDPOINTS"]

#: :data:`flowat_kernel.analytics.scoped.MAX_ROWS` and ``MAX_SECONDS`` (not imported
#: here, so that serving does not load DuckDB until a query comes).
MAX_ROWS = 10_000
MAX_SECONDS = 60.0


class QueryBody(BaseModel):
    """One SELECT over the views (runs, steps, workflow_stats, ...) and ``events``."""

    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, max_length=20_000, description="one SELECT statement")
    limit: int = Field(default=1000, ge=1, le=MAX_ROWS, description="the most rows returned")
    timeout_seconds: float = Field(
        default=10.0, gt=0, le=MAX_SECONDS, description="stop the query after this long"
    )


@endpoint(
    "POST",
    "/analytics/query",
    "runs:read",
    "Run one read-only SELECT over this organization's analytics views (flowat analytics sql)",
    body=QueryBody,
)
def analytics_query(call: Call) -> Reply:
    body = call.model(QueryBody)
    result = workspace(call.who).analytics_query(
        body.sql, limit=body.limit, timeout=body.timeout_seconds
    )
    return 200, result.as_dict()


ENDPOINTS: list[Endpoint] = [analytics_query]
