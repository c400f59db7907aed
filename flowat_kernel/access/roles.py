"""Roles, permissions and the permission matrix, as data.

A permission is ``RESOURCE:ACTION`` (for example ``runs:write``). API-key scopes use
the same strings. The matrix says which roles hold each permission; a request is
allowed when the caller's role holds the permission *and*, for an API key or a
session, its scopes include it.
"""

from __future__ import annotations

from enum import StrEnum

from flowat_kernel.errors import FlowAtError

__all__ = [
    "MATRIX",
    "PERMISSIONS",
    "RESOURCES",
    "Role",
    "check_scopes",
    "role_allows",
    "within",
    "workflow_scoped",
]


class Role(StrEnum):
    """A member's role in an organization, from most to least powerful."""

    OWNER = "owner"
    ADMINISTRATOR = "administrator"
    EDITOR = "editor"
    VIEWER = "viewer"

    @classmethod
    def parse(cls, text: str) -> Role:
        """The role named ``text`` (case-insensitive; ``admin`` works too).

        Raises:
            FlowAtError: no such role.

        """
        value = str(text).strip().lower()
        value = {"admin": "administrator"}.get(value, value)
        try:
            return cls(value)
        except ValueError:
            raise FlowAtError(
                f"unknown role {text!r}; roles are owner, administrator, editor, viewer"
            ) from None


_ALL = frozenset(Role)
_EDIT = frozenset({Role.OWNER, Role.ADMINISTRATOR, Role.EDITOR})
_ADMIN = frozenset({Role.OWNER, Role.ADMINISTRATOR})

#: Which roles hold each permission. Documented in docs/api.md; the API's permission
#: test walks every endpoint against every role from this table.
MATRIX: dict[str, frozenset[Role]] = {
    "workflows:read": _ALL,
    "workflows:write": _EDIT,
    "runs:read": _ALL,
    "runs:write": _EDIT,
    "schedules:read": _ALL,
    "schedules:write": _EDIT,
    "webhooks:read": _EDIT,
    "webhooks:write": _EDIT,
    "secrets:read": _EDIT,
    "secrets:write": _ADMIN,
    "dlq:read": _EDIT,
    "keys:read": _ADMIN,
    "keys:write": _ADMIN,
    "members:read": _ALL,
    "members:write": _ADMIN,
    "audit:read": _ADMIN,
    "organization:read": _ALL,
    #: The organization's settings (its egress policy): loosening them reaches further
    #: than any member's role, so only an Owner changes them.
    "organization:write": frozenset({Role.OWNER}),
    #: The organization's default retention policy (a workflow's own: workflows:write).
    "retention:write": _ADMIN,
    #: Rate limits per connector host: everyone sees them, Administrators set them.
    "ratelimits:read": _ALL,
    "ratelimits:write": _ADMIN,
}

PERMISSIONS: tuple[str, ...] = tuple(MATRIX)
RESOURCES: tuple[str, ...] = tuple(dict.fromkeys(p.split(":")[0] for p in MATRIX))

#: Resources whose objects belong to one workflow; a key limited to named workflows
#: may use only these, and only for its workflows.
_WORKFLOW_SCOPED = frozenset({"workflows", "runs", "schedules", "webhooks", "dlq"})


def within(role: Role, limit: Role) -> bool:
    """Whether ``role`` is no more powerful than ``limit`` (nobody hands out more)."""
    order = list(Role)
    return order.index(role) >= order.index(limit)


def role_allows(role: Role, permission: str) -> bool:
    """Whether ``role`` holds ``permission`` (unknown permissions are held by nobody)."""
    return role in MATRIX.get(permission, frozenset())


def workflow_scoped(permission: str) -> bool:
    """Whether ``permission`` concerns objects that belong to one workflow."""
    return permission.split(":")[0] in _WORKFLOW_SCOPED


def check_scopes(scopes: list[str] | tuple[str, ...]) -> list[str]:
    """Validate API-key scopes; ``*`` stands for every permission.

    Raises:
        FlowAtError: a scope that is not a permission.

    """
    out: list[str] = []
    for scope in scopes:
        text = str(scope).strip()
        if text != "*" and text not in MATRIX:
            raise FlowAtError(
                f"unknown scope {text!r}; scopes are * or one of: {', '.join(PERMISSIONS)}"
            )
        if text not in out:
            out.append(text)
    if not out:
        raise FlowAtError("give at least one scope, for example runs:write or workflows:read")
    return out
