"""One object bundling the access services of a runtime, and the local (notebook) user."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from flowat_kernel.access.directory import Directory
from flowat_kernel.access.errors import Unauthenticated
from flowat_kernel.access.keys import KEY_PREFIX, ApiKeys
from flowat_kernel.access.principal import Principal
from flowat_kernel.access.roles import Role
from flowat_kernel.access.sessions import SessionTokens
from flowat_kernel.step_context import process_services

if TYPE_CHECKING:
    from flowat_kernel.config import Settings
    from flowat_kernel.store import Store
    from flowat_kernel.vault.vault import Vault

__all__ = ["Access", "AccessServices", "access", "local_principal"]


class AccessServices(Protocol):
    """What the access services are built over: the store, the vault and the settings."""

    settings: Settings

    @property
    def store(self) -> Store:
        """The metadata store."""
        ...

    @property
    def vault(self) -> Vault:
        """The vault (its keys sign session tokens)."""
        ...


@dataclass(frozen=True)
class Access:
    """Directory, API keys and session tokens over one runtime's store and vault."""

    runtime: AccessServices
    directory: Directory
    keys: ApiKeys
    sessions: SessionTokens
    personal: dict[str, str] = field(default_factory=dict)

    def authenticate(self, credential: str) -> Principal:
        """The principal of a bearer credential: an API key or a session token.

        Raises:
            Unauthenticated: neither valid key nor valid token.

        """
        credential = credential.strip()
        if not credential:
            raise Unauthenticated("empty credential")
        if credential.startswith(KEY_PREFIX):
            return self.keys.authenticate(credential)
        return self.sessions.verify(credential)

    def local(self) -> Principal:
        """The notebook (or CLI) user: Owner of their personal organization."""
        return local_principal(self)


_cache: dict[int, Access] = {}
_lock = threading.Lock()


def access(runtime: AccessServices | None = None) -> Access:
    """The access services over ``runtime`` (by default, the process's installed ones).

    Raises:
        ConfigError: no services given and none installed.

    """
    if runtime is None:
        runtime = process_services()
    with _lock:
        found = _cache.get(id(runtime))
        if found is None or found.runtime is not runtime:
            directory = Directory(runtime.store)
            found = Access(
                runtime=runtime,
                directory=directory,
                keys=ApiKeys(runtime.store),
                sessions=SessionTokens(runtime.vault, directory),
            )
            _cache.clear()
            _cache[id(runtime)] = found
        return found


def local_principal(services: Access | None = None, via: str = "cli") -> Principal:
    """The local user (``FLOWAT_OWNER``, else the OS user) as Owner of their personal org."""
    services = services or access()
    user = services.runtime.settings.owner
    slug = services.personal.get(user)
    if slug is None:  # once per process and user: make sure the organization exists
        slug = services.personal[user] = services.directory.ensure_personal(user).slug
    return Principal(user=user, owner=slug, role=Role.OWNER, via=via)
