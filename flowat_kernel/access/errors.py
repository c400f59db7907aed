"""Access errors: each maps to one HTTP status in the REST API.

::

    FlowAtError
    └── AccessError
        ├── Unauthenticated    no credentials, or ones that are invalid, expired or revoked (401)
        ├── Forbidden          the role, the key's scopes or its workflows do not allow it (403)
        └── Conflict           the object exists already, or the change is not allowed (409)
"""

from __future__ import annotations

from flowat_kernel.errors import FlowAtError

__all__ = ["AccessError", "Conflict", "Forbidden", "Unauthenticated"]


class AccessError(FlowAtError):
    """Root of the access errors."""


class Unauthenticated(AccessError):
    """No usable credentials: missing, malformed, expired, revoked or forged."""


class Forbidden(AccessError):
    """The caller is known but not allowed to do this."""


class Conflict(AccessError):
    """The request conflicts with what exists (a duplicate, the last owner leaving)."""
