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

__all__ = ["API_KEY_VARIABLE", "principal_of", "resolve_principal"]

#: The environment variable that makes the CLI and a notebook act as an API key's member.
API_KEY_VARIABLE = "FLOWAT_API_KEY"


def resolve_principal(
    user: str, directory: Directory, keys: ApiKeys, *, via: str = "cli"
) -> Principal:
    """The principal of this process: ``FLOWAT_API_KEY``'s member, else ``user`` as Owner.

    Raises:
        Unauthenticated: ``FLOWAT_API_KEY`` is set but is not a valid, current key.

    """
    return principal_of(user, os.environ.get(API_KEY_VARIABLE, ""), directory, keys, via=via)


def principal_of(
    user: str, key: str, directory: Directory, keys: ApiKeys, *, via: str = "cli"
) -> Principal:
    """The member behind ``key`` when it is not empty, else ``user`` as Owner.

    What :func:`resolve_principal` decides from this process's environment, for a
    caller that names its own key (a CLI handing its run to a worker, see
    :mod:`flowat_kernel.cli.handoff_door`).

    Raises:
        Unauthenticated: ``key`` is not a valid, current key.

    """
    if key.strip():
        return keys.authenticate(key.strip())
    slug = directory.ensure_personal(user).slug
    return Principal(user=user, owner=slug, role=Role.OWNER, via=via)
