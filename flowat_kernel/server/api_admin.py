"""Endpoints: the caller, sessions, secrets metadata, API keys, members, DLQ, audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flowat_kernel.access.roles import Role
from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, Query, endpoint
from flowat_kernel.server.errors import ApiError
from flowat_kernel.server.state import runtime, services, workspace

__all__ = ["ENDPOINTS"]


class SessionBody(BaseModel):
    """A session token's lifetime."""

    model_config = ConfigDict(extra="forbid")

    ttl_seconds: int = Field(default=900, ge=1, le=12 * 3600)


class KeyBody(BaseModel):
    """A new API key."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    scopes: list[str] = Field(min_length=1, max_length=40)
    workflows: list[str] | None = Field(default=None, max_length=100)
    expires_in_seconds: int | None = Field(default=None, ge=1, le=10 * 365 * 86400)
    user: str | None = Field(default=None, max_length=128)


class RotateBody(BaseModel):
    """How long the old key keeps working after a rotation."""

    model_config = ConfigDict(extra="forbid")

    overlap_seconds: int = Field(default=3600, ge=0, le=30 * 86400)


class MemberBody(BaseModel):
    """A member's role."""

    model_config = ConfigDict(extra="forbid")

    role: str = Field(max_length=32)


@endpoint("GET", "/me", "authenticated", "Who the credential belongs to, and what it may do")
def me(call: Call) -> Reply:
    who = call.who
    from flowat_kernel.access.roles import PERMISSIONS

    return 200, {
        "user": who.user,
        "organization": who.owner,
        "role": who.role.value,
        "scopes": list(who.scopes),
        "workflows": list(who.workflows) if who.workflows is not None else None,
        "via": who.via.split(":")[0],
        "key_id": who.key_id,
        "session_id": who.session_id,
        "expires_at": who.expires_at.isoformat() if who.expires_at else None,
        "permissions": [p for p in PERMISSIONS if who.can(p)],
    }


@endpoint(
    "POST",
    "/sessions",
    "authenticated",
    "A short-lived session token with the caller's scopes, ending with the caller's key",
    body=SessionBody,
    status=201,
)
def new_session(call: Call) -> Reply:
    body = call.model(SessionBody)
    return 201, services().sessions.issue(call.who, timedelta(seconds=body.ttl_seconds))


@endpoint(
    "GET",
    "/sessions",
    "authenticated",
    "Sessions not yet expired: the caller's own, or the organization's with keys:read",
)
def list_sessions(call: Call) -> Reply:
    return 200, {"items": services().sessions.visible(call.who)}


@endpoint(
    "DELETE",
    "/sessions/{session_id}",
    "authenticated",
    "Revoke a session and the sessions made with it (your own, or any with keys:write)",
)
def revoke_session(call: Call) -> Reply:
    revoked = services().sessions.revoke(call.who, call.path["session_id"])
    return 200, {"revoked": revoked}


@endpoint("GET", "/secrets", "secrets:read", "Secrets metadata (never values)")
def list_secrets(call: Call) -> Reply:
    items = workspace(call.who).list_secrets()
    return 200, {"items": [s.as_dict() for s in items]}


@endpoint("GET", "/keys", "keys:read", "List API keys (prefix and metadata, never the key)")
def list_keys(call: Call) -> Reply:
    return 200, {"items": [k.as_dict() for k in services().keys.list(call.who.owner)]}


@endpoint(
    "POST", "/keys", "keys:write", "Create an API key; it is shown once", body=KeyBody, status=201
)
def create_key(call: Call) -> Reply:
    body = call.model(KeyBody)
    expires = timedelta(seconds=body.expires_in_seconds) if body.expires_in_seconds else None
    created = services().keys.create(
        call.who,
        name=body.name,
        scopes=body.scopes,
        workflows=body.workflows,
        expires_in=expires,
        user=body.user,
    )
    return 201, {**created.info.as_dict(), "key": created.key}


def _key_id(call: Call) -> str:
    key_id = call.path["key_id"]
    if len(key_id) > 32:
        raise ApiError(404, "not_found", "no such API key")
    return key_id


@endpoint("GET", "/keys/{key_id}", "keys:read", "One API key's metadata")
def get_key(call: Call) -> Reply:
    return 200, services().keys.get(call.who.owner, _key_id(call)).as_dict()


@endpoint("DELETE", "/keys/{key_id}", "keys:write", "Revoke an API key (effective at once)")
def revoke_key(call: Call) -> Reply:
    return 200, services().keys.revoke(call.who, _key_id(call)).as_dict()


@endpoint(
    "POST",
    "/keys/{key_id}/rotate",
    "keys:write",
    "Replace a key; the old one keeps working for overlap_seconds",
    body=RotateBody,
    status=201,
)
def rotate_key(call: Call) -> Reply:
    body = call.model(RotateBody)
    created = services().keys.rotate(
        call.who, _key_id(call), timedelta(seconds=body.overlap_seconds)
    )
    return 201, {**created.info.as_dict(), "key": created.key}


class OrganizationBody(BaseModel):
    """The organization's settings."""

    model_config = ConfigDict(extra="forbid")

    egress: str = Field(max_length=16)


def _organization(org: Any) -> dict[str, Any]:
    from flowat_kernel.config import settings
    from flowat_kernel.sdk.egress import combined

    installation = settings().egress
    return {
        "slug": org.slug,
        "name": org.name,
        "personal": org.personal,
        "egress": org.egress or "installation",
        "egress_in_effect": combined(installation, org.egress),
        "installation_egress": installation,
    }


@endpoint("GET", "/organization", "organization:read", "The caller's organization and settings")
def get_organization(call: Call) -> Reply:
    return 200, _organization(workspace(call.who).organization())


@endpoint(
    "PUT",
    "/organization",
    "organization:write",
    "Change the organization's settings: its egress policy (auto, open, public, installation)",
    body=OrganizationBody,
)
def set_organization(call: Call) -> Reply:
    body = call.model(OrganizationBody)
    return 200, _organization(workspace(call.who).set_egress(body.egress))


@endpoint("GET", "/members", "members:read", "The organization's members and roles")
def list_members(call: Call) -> Reply:
    members = services().directory.members(call.who.owner)
    return 200, {
        "items": [
            {"user": m.user, "role": m.role.value, "since": m.created_at.isoformat()}
            for m in members
        ]
    }


@endpoint(
    "PUT", "/members/{user}", "members:write", "Add a member or change a role", body=MemberBody
)
def set_member(call: Call) -> Reply:
    body = call.model(MemberBody)
    member = services().directory.set_role(
        call.who.owner, call.path["user"], Role.parse(body.role), call.who.user, call.who.role
    )
    return 200, {"user": member.user, "role": member.role.value}


@endpoint("DELETE", "/members/{user}", "members:write", "Remove a member")
def remove_member(call: Call) -> Reply:
    user = call.path["user"]
    services().directory.remove_member(call.who.owner, user, call.who.user, call.who.role)
    return 200, {"removed": user}


@endpoint(
    "GET",
    "/dlq",
    "dlq:read",
    "Dead letters: steps that exhausted their retries",
    query=(
        Query("status", description="parked (default), retried, discarded or all"),
        Query("limit", "integer", "at most this many (1-200, default 50)", 1, 200),
    ),
)
def list_dlq(call: Call) -> Reply:
    status = call.text("status", "parked")
    if status not in ("parked", "retried", "discarded", "all"):
        raise ApiError(400, "bad_query", "status must be parked, retried, discarded or all")
    letters = workspace(call.who).dlq_list(
        None if status == "all" else status, call.integer("limit", 50, 1, 200)
    )
    return 200, {"items": [d.as_dict() for d in letters]}


@endpoint(
    "GET",
    "/audit",
    "audit:read",
    "The audit log, newest first",
    query=(
        Query("action", description="only actions starting with this, e.g. key or run.started"),
        Query("before", description="only entries before this ISO 8601 time (paging)"),
        Query("limit", "integer", "page size (1-500, default 100)", 1, 500),
    ),
)
def audit_log(call: Call) -> Reply:
    from flowat_kernel.access.audit import query

    entries = query(
        runtime().store,
        call.who.owner,
        limit=call.integer("limit", 100, 1, 500),
        before=call.timestamp("before"),
        action=call.text("action"),
    )
    return 200, {"items": entries}


ENDPOINTS: list[Endpoint] = [
    me,
    new_session,
    list_sessions,
    revoke_session,
    list_secrets,
    list_keys,
    create_key,
    get_key,
    revoke_key,
    rotate_key,
    get_organization,
    set_organization,
    list_members,
    set_member,
    remove_member,
    list_dlq,
    audit_log,
]
