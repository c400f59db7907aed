"""Who is calling, in which organization, and what they may do there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flowat_kernel.access.errors import Forbidden
from flowat_kernel.access.roles import Role, role_allows, workflow_scoped

__all__ = ["Principal"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    Attributes:
        user: the user's name.
        owner: the organization's slug (the ``owner`` of its workflows, runs, secrets).
        role: the user's current role in that organization.
        scopes: the permissions the credential carries (``*`` for all).
        workflows: the workflows the credential is limited to, or ``None`` for all.
        via: how the caller authenticated: ``jupyter``, ``key:ID``, ``session``, ``cli``.
        key_id: the API key the credential is, or the session was made with (``None``
            for the notebook and CLI user).
        session_id: the session token's id, when the credential is one.
        expires_at: when the credential stops working (``None``: when it is revoked);
            a session made with it never lasts longer.

    """

    user: str
    owner: str
    role: Role
    scopes: tuple[str, ...] = ("*",)
    workflows: tuple[str, ...] | None = None
    via: str = "cli"
    key_id: str | None = None
    session_id: str | None = None
    expires_at: datetime | None = None

    def audit_detail(self) -> dict[str, str]:
        """What audit entries record about the credential: ``via`` and the key used.

        ``via`` is ``key:ID`` for an API key and ``session:ID`` for a session token,
        whose ``key`` then names the API key it was made with.
        """
        via = self.via
        if self.session_id is not None:
            via = f"session:{self.session_id}"
        detail = {"via": via}
        if self.key_id is not None and via != f"key:{self.key_id}":
            detail["key"] = f"key:{self.key_id}"
        return detail

    def can(self, permission: str) -> bool:
        """Whether the role and the credential's scopes both hold ``permission``."""
        in_scope = "*" in self.scopes or permission in self.scopes
        return in_scope and role_allows(self.role, permission)

    def require(self, permission: str, workflow: str | None = None) -> None:
        """Check ``permission`` (for ``workflow``, when the object belongs to one).

        Raises:
            Forbidden: the role, the scopes or the key's workflows do not allow it.

        """
        if not role_allows(self.role, permission):
            raise Forbidden(
                f"the {self.role.value} role may not use {permission}; "
                "ask an administrator of the organization for a higher role"
            )
        if "*" not in self.scopes and permission not in self.scopes:
            raise Forbidden(
                f"this credential lacks the scope {permission}; "
                f"its scopes are {', '.join(self.scopes)}"
            )
        if self.workflows is not None:
            if not workflow_scoped(permission):
                raise Forbidden(
                    f"this key is limited to workflows {', '.join(self.workflows)} "
                    f"and cannot use {permission}"
                )
            if workflow is not None and workflow not in self.workflows:
                raise Forbidden(
                    f"this key is limited to workflows {', '.join(self.workflows)}, "
                    f"not {workflow!r}"
                )

    def sees(self, workflow: str) -> bool:
        """Whether objects of ``workflow`` are visible to this credential."""
        return self.workflows is None or workflow in self.workflows
