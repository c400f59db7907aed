"""Access control: organizations, members and roles, API keys, session tokens, audit log."""

from flowat_kernel.access.directory import Directory, Member, Organization
from flowat_kernel.access.errors import AccessError, Conflict, Forbidden, Unauthenticated
from flowat_kernel.access.keys import ApiKeys, CreatedKey, KeyInfo
from flowat_kernel.access.principal import Principal
from flowat_kernel.access.roles import MATRIX, PERMISSIONS, Role
from flowat_kernel.access.service import Access, access, local_principal
from flowat_kernel.access.sessions import SessionTokens

__all__ = [
    "MATRIX",
    "PERMISSIONS",
    "Access",
    "AccessError",
    "ApiKeys",
    "Conflict",
    "CreatedKey",
    "Directory",
    "Forbidden",
    "KeyInfo",
    "Member",
    "Organization",
    "Principal",
    "Role",
    "SessionTokens",
    "Unauthenticated",
    "access",
    "local_principal",
]
