"""Who a workspace acts for: the member behind ``FLOWAT_API_KEY``, else the local user.

The CLI and a notebook act as the local user, Owner of their personal organization,
unless ``FLOWAT_API_KEY`` names a member: then that key's organization, role and
scopes apply, exactly as through the REST API.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from flowat_kernel.access.principal import Principal
from flowat_kernel.access.roles import Role

if TYPE_CHECKING:
    from flowat_kernel.access.directory import Directory
    from flowat_kernel.access.keys import ApiKeys

__all__ = ["API_KEY_VARIABLE", "resolve_principal"]

#: The environment variable that makes the CLI and a notebook act as an API key's member.
API_KEY_VARIABLE = "FLOWAT_API_KEY"


def resolve_principal(
    user: str, directory: Directory, keys: ApiKeys, *, via: str = "cli"
) -> Principal:
    """The principal of this process: ``FLOWAT_API_KEY``'s member, else ``user`` as Owner.

    Raises:
        Unauthenticated: ``FLOWAT_API_KEY`` is set but is not a valid, current key.

    """
    key = os.environ.get(API_KEY_VARIABLE, "").strip()
    if key:
        return keys.authenticate(key)
    slug = directory.ensure_personal(user).slug
    return Principal(user=user, owner=slug, role=Role.OWNER, via=via)
