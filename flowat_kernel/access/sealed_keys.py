"""Random 32-byte keys kept in the vault's ``vault_keys`` table, wrapped by the master key.

Used for session-token signing keys and webhook signing secrets. They are wrapped
exactly like the payload-codec keys (associated data bound to the key id), so a
master-key rotation re-wraps them with everything else.
"""

from __future__ import annotations

import os

from flowat_kernel.vault import crypto
from flowat_kernel.vault.vault import Vault

__all__ = ["add_key", "drop_key", "load_keys"]


def add_key(vault: Vault, purpose: str, kid: str | None = None) -> tuple[str, bytes]:
    """Create a key for ``purpose``; returns its id and value."""
    ring = vault.keyring
    kid = kid or f"{purpose[:8]}-{os.urandom(8).hex()}"
    key = os.urandom(crypto.KEY_BYTES)
    wrapped = crypto.wrap_data_key(ring.active_key, key, crypto.payload_key_aad(kid))
    vault.store.add_vault_key(kid, purpose, ring.active, wrapped)
    return kid, key


def load_keys(vault: Vault, purpose: str, kid: str | None = None) -> list[tuple[str, bytes]]:
    """The keys of ``purpose`` (or just ``kid``), oldest first, unwrapped."""
    return [
        (
            row.id,
            crypto.unwrap_data_key(
                vault.key_for(row.key_id), row.wrapped_key, crypto.payload_key_aad(row.id)
            ),
        )
        for row in vault.store.vault_keys(purpose, kid)
    ]


def drop_key(vault: Vault, purpose: str, kid: str) -> None:
    """Delete one key of ``purpose``."""
    vault.store.drop_vault_key(purpose, kid)
