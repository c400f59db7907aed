"""Endpoints: approval links for a run's ``--wait-for`` step (made by those who may act)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, endpoint
from flowat_kernel.server.state import workspace

__all__ = ["ENDPOINTS"]


class SendTo(BaseModel):
    """Where the link goes: a chat or HTTP webhook, or an email address."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["chat", "webhook", "email"]
    target: str = Field(min_length=1, max_length=2048, description="URL or address")


class ApprovalLinkBody(BaseModel):
    """Which waiting step the link decides, for whom, and for how long."""

    model_config = ConfigDict(extra="forbid")

    step: str = Field(min_length=1, max_length=255, description="a --wait-for SIGNAL step")
    reviewer: str | None = Field(
        default=None, max_length=64, description="the name the decision is recorded under"
    )
    expires_seconds: int = Field(
        default=86_400, ge=60, le=30 * 86_400, description="how long the link works"
    )
    send: SendTo | None = Field(
        default=None, description="send the link to the reviewer instead of returning its url"
    )


@endpoint(
    "POST",
    "/runs/{run_id}/approval-links",
    "runs:write",
    "Make a signed, single-use approve/reject link for a waiting step",
    body=ApprovalLinkBody,
    status=201,
)
def make_approval_link(call: Call) -> Reply:
    body = call.model(ApprovalLinkBody)
    link = workspace(call.who).approval_link(
        call.path["run_id"],
        body.step,
        reviewer=body.reviewer,
        expires_seconds=body.expires_seconds,
        base_url=call.base_url or None,
        send=(body.send.kind, body.send.target) if body.send else None,
    )
    return 201, link.as_dict()


ENDPOINTS: list[Endpoint] = [make_approval_link]
