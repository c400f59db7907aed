"""Access errors: each maps to one HTTP status in the REST API.

::

    FlowAtError
    └── AccessError
        ├── Unauthenticated    no credentials, or ones that are invalid, expired or revoked (401)
        ├── Forbidden          the role, the key's scopes or its workflows do not allow it (403);
        │                      also a :class:`~flowat_kernel.errors.PermissionDenied`
        └── Conflict           the object exists already, or the change is not allowed (409)

All are usage errors (``usage = True``): the caller fixes them with other credentials, a
role that allows the operation, or a different request.
"""

from __future__ import annotations

from flowat_kernel.errors import FlowAtError, PermissionDenied

__all__ = ["AccessError", "Conflict", "Forbidden", "Unauthenticated"]


class AccessError(FlowAtError):
    """Root of the access errors."""

    usage = True


class Unauthenticated(AccessError):
    """No usable credentials: missing, malformed, expired, revoked or forged.

    Attributes:
        owner: the organization the credential belongs to, when that is known for sure
            (a revoked key, a session whose key was revoked); the denied attempt is
            audited there.
        actor: the member the credential names, when known.
        via: the credential, as :attr:`~flowat_kernel.access.principal.Principal.via`
            names it (``key:ID``, ``session:ID``), when known.

    """

    def __init__(
        self,
        message: str,
        *,
        owner: str | None = None,
        actor: str | None = None,
        via: str | None = None,
    ) -> None:
        super().__init__(message)
        self.owner = owner
        self.actor = actor
        self.via = via


class Forbidden(AccessError, PermissionDenied):
    """The caller is known but not allowed to do this."""


class Conflict(AccessError):
    """The request conflicts with what exists (a duplicate, the last owner leaving)."""
