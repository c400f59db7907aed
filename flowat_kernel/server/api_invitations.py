"""Endpoints: invitations to the organization, and redeeming one.

An Administrator or Owner invites a user with a role; the reply carries the one-time
token, shown this once (the store keeps its hash). The invited user redeems it with
their own credentials. Nobody invites above their own role; only an Owner invites an
Owner (:mod:`flowat_kernel.access.invitations`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, endpoint
from flowat_kernel.server.state import workspace

__all__ = ["ENDPOINTS"]


class InvitationBody(BaseModel):
    """Whom to invite, with which role, for how long."""

    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, max_length=128)
    role: str = Field(min_length=1, max_length=32)
    expires_in_seconds: int | None = Field(default=None, ge=60, le=30 * 86400)


class RedeemBody(BaseModel):
    """An invitation's token (write-only)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    token: str = Field(min_length=1, max_length=200, description="write-only; never returned")


@endpoint(
    "GET",
    "/invitations",
    "members:write",
    "The organization's invitations, newest first: user, role, status (never tokens)",
)
def list_invitations(call: Call) -> Reply:
    return 200, {"items": [i.as_dict() for i in workspace(call.who).invitations()]}


@endpoint(
    "POST",
    "/invitations",
    "members:write",
    "Invite a user with a role (no higher than yours); the token is shown once",
    body=InvitationBody,
    status=201,
)
def create_invitation(call: Call) -> Reply:
    body = call.model(InvitationBody)
    created = workspace(call.who).invite(body.user, body.role, body.expires_in_seconds)
    return 201, {**created.info.as_dict(), "token": created.token}


@endpoint(
    "DELETE",
    "/invitations/{invitation_id}",
    "members:write",
    "Revoke an open invitation (its token stops working at once)",
)
def revoke_invitation(call: Call) -> Reply:
    revoked = workspace(call.who).revoke_invitation(call.path["invitation_id"])
    return 200, revoked.as_dict()


@endpoint(
    "POST",
    "/invitations/redeem",
    "authenticated",
    "Redeem an invitation made for you: join its organization with its role",
    body=RedeemBody,
)
def redeem_invitation(call: Call) -> Reply:
    body = call.model(RedeemBody)
    organization, member = workspace(call.who).redeem_invitation(body.token)
    return 200, {"organization": organization, "user": member.user, "role": member.role.value}


ENDPOINTS: list[Endpoint] = [
    list_invitations,
    redeem_invitation,
    create_invitation,
    revoke_invitation,
]
