"""One organization's view of the vault: what a step scope holds instead of the vault."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowat_kernel.vault.vault import Vault

__all__ = ["OrganizationSecrets"]


class OrganizationSecrets:
    """Reveals and records the secrets of one organization only.

    The worker gives each step one bound to its run's organization, so step code has no
    handle that names another organization.
    """

    __slots__ = ("_owner", "_vault")

    def __init__(self, vault: Vault, owner: str | None) -> None:
        self._vault = vault
        self._owner = owner

    def __repr__(self) -> str:
        return f"OrganizationSecrets(owner={self._owner!r})"

    def reveal(self, name: str) -> str:
        """The value of the organization's secret ``name``.

        Raises:
            SecretNotFound: the organization has no such secret.

        """
        return self._vault.reveal_value(name, self._owner)

    def record_usage(self, names: Iterable[str]) -> None:
        """Note that ``names`` were revealed outside a run (metadata only)."""
        self._vault.record_usage(names, None, self._owner)
