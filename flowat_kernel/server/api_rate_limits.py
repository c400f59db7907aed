"""Endpoints: rate limits per connector host (everyone reads, Administrators change)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, Query, endpoint
from flowat_kernel.server.state import workspace

__all__ = ["ENDPOINTS"]


class RateLimitBody(BaseModel):
    """A limit for calls to one host: per second, at once, or both."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(
        min_length=1, max_length=255, description="host, address or host:port (not a URL)"
    )
    connector: str | None = Field(
        default=None, max_length=64, description="one connector's calls; null or '*': all"
    )
    per_second: int | None = Field(
        default=None, ge=1, le=100_000, description="at most this many calls in any second"
    )
    concurrent: int | None = Field(
        default=None, ge=1, le=100_000, description="at most this many calls at once"
    )


@endpoint("GET", "/rate-limits", "ratelimits:read", "List the organization's host rate limits")
def list_rate_limits(call: Call) -> Reply:
    return 200, {"items": [limit.as_dict() for limit in workspace(call.who).rate_limits()]}


@endpoint(
    "PUT",
    "/rate-limits",
    "ratelimits:write",
    "Set (create or replace) a host's rate limit",
    body=RateLimitBody,
)
def set_rate_limit(call: Call) -> Reply:
    body = call.model(RateLimitBody)
    info = workspace(call.who).set_rate_limit(
        body.host,
        per_second=body.per_second,
        concurrent=body.concurrent,
        connector=body.connector,
    )
    return 200, info.as_dict()


@endpoint(
    "DELETE",
    "/rate-limits/{host}",
    "ratelimits:write",
    "Remove a host's rate limit",
    query=(Query("connector", description="the limit's connector (default: '*', all)"),),
)
def remove_rate_limit(call: Call) -> Reply:
    removed = workspace(call.who).remove_rate_limit(
        call.path["host"], connector=call.text("connector")
    )
    return 200, {"removed": {"host": removed.host, "connector": removed.connector}}


ENDPOINTS: list[Endpoint] = [list_rate_limits, set_rate_limit, remove_rate_limit]
