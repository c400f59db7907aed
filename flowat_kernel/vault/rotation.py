"""Master-key rotation: re-wrap every data key under a new master key, without downtime.

Rows are re-wrapped in batches that each commit on their own, so that a crash half-way
loses nothing (every row is under the old or the new key, and both are in the key
ring) and a rerun finishes the job. Keys no row needs are then retired.

These functions work on any :class:`KeyHolder` (the :class:`~flowat_kernel.vault.Vault`
is one, and calls them for its own rotation methods); this module does not import
the vault, so the two do not import each other. The SQL is the store's
(:mod:`flowat_kernel.store.secret_records`); the cryptography stays here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from flowat_kernel.errors import MasterKeyError
from flowat_kernel.store import Store
from flowat_kernel.vault import crypto
from flowat_kernel.vault.crypto import payload_key_aad, secret_aad
from flowat_kernel.vault.keyring import ENV_VAR, KeyRing, add_active_key, retire_keys

__all__ = ["KeyHolder", "RotationReport", "keys_in_use", "retire_key", "rotate_master_key"]


class KeyHolder(Protocol):
    """What a rotation needs of a vault: its store and its master keys."""

    @property
    def store(self) -> Store:
        """The metadata store holding the wrapped rows."""
        ...

    def reload_keys(self) -> KeyRing:
        """Read the master keys again."""
        ...

    def use_keyring(self, ring: KeyRing) -> None:
        """Adopt ``ring`` (after the key file changed)."""
        ...

    def key_for(self, kid: str) -> bytes:
        """The master key ``kid``."""
        ...


@dataclass(frozen=True)
class RotationReport:
    """Outcome of a master-key rotation."""

    active_key: str
    rewrapped: int
    remaining: int
    retired: tuple[str, ...]
    still_needed: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        """JSON-able report."""
        return {
            "active_key": self.active_key,
            "rewrapped": self.rewrapped,
            "remaining": self.remaining,
            "retired": list(self.retired),
            "still_needed": list(self.still_needed),
        }


def keys_in_use(store: Store) -> dict[str, int]:
    """How many rows (secrets and vault keys) each master key id wraps."""
    return store.master_keys_in_use()


def rotate_master_key(
    vault: KeyHolder,
    new_key: bytes | None = None,
    batch_size: int = 500,
    on_batch: Callable[[int, int], None] | None = None,
) -> RotationReport:
    """Re-wrap every data key under the active master key, bringing in a new one first.

    When rows still need an older key (an interrupted rotation, or a new key put
    first in ``FLOWAT_MASTER_KEY``), this finishes that rotation instead of starting
    another. Each batch commits on its own, so a crash loses nothing: every row is
    under the old or the new key, both in the key ring, and a rerun carries on.
    Keys no row needs any more are retired from the key file at the end.

    Args:
        vault: the vault whose rows are re-wrapped.
        new_key: the new master key (default: a fresh random one).
        batch_size: rows re-wrapped per transaction.
        on_batch: called with (rows done, rows left) after each batch commits.

    Raises:
        MasterKeyError: a row needs a key the ring lacks.

    """
    ring = vault.reload_keys()
    pending = {kid for kid in keys_in_use(vault.store) if kid != ring.active}
    if not pending and ring.path is None and new_key is None:
        raise MasterKeyError(
            f"every row is already under the first key of {ENV_VAR}: to rotate, put a "
            "new key first (NEW,OLD) and run `flowat secrets rotate-key` again"
        )
    if not pending:
        ring = add_active_key(ring, new_key)
        vault.use_keyring(ring)
    elif new_key is not None and pending:
        raise MasterKeyError(
            "a rotation is still in progress; run `flowat secrets rotate-key` without "
            "a new key to finish it first"
        )
    done = 0
    while True:
        count = _rewrap_batch(vault, ring, batch_size)
        if count == 0:
            break
        done += count
        if on_batch is not None:
            remaining = sum(n for k, n in keys_in_use(vault.store).items() if k != ring.active)
            on_batch(done, remaining)
    return _finish_rotation(vault, ring, done)


def _rewrap_batch(vault: KeyHolder, ring: KeyRing, batch_size: int) -> int:
    """Re-wrap up to ``batch_size`` rows of each table in one transaction (see the store)."""

    def rewrap_secret(row: Any, key_id: str, wrapped: bytes) -> bytes:
        aad = secret_aad(row.owner, row.name)
        return crypto.rewrap(vault.key_for(key_id), ring.active_key, wrapped, aad)

    def rewrap_vault_key(row: Any, key_id: str, wrapped: bytes) -> bytes:
        aad = payload_key_aad(row.id)
        return crypto.rewrap(vault.key_for(key_id), ring.active_key, wrapped, aad)

    return vault.store.rewrap_batch(ring.active, batch_size, rewrap_secret, rewrap_vault_key)


def _finish_rotation(vault: KeyHolder, ring: KeyRing, done: int) -> RotationReport:
    in_use = keys_in_use(vault.store)
    remaining = sum(n for kid, n in in_use.items() if kid != ring.active)
    unused = [kid for kid in ring.keys if kid != ring.active and kid not in in_use]
    retired: list[str] = []
    if remaining == 0 and ring.path is not None:
        retired = unused
        vault.use_keyring(retire_keys(ring, unused))
    still_needed = tuple(sorted(kid for kid in in_use if kid != ring.active))
    return RotationReport(ring.active, done, remaining, tuple(retired), still_needed)


def retire_key(vault: KeyHolder, kid: str) -> None:
    """Retire one master key, refusing while any row still needs it.

    Raises:
        MasterKeyError: the key is active, unknown, still needed, or set through
            ``FLOWAT_MASTER_KEY`` (remove it from the variable instead).

    """
    ring = vault.reload_keys()
    if ring.path is None:
        raise MasterKeyError(f"keys come from {ENV_VAR}: remove {kid} from the variable")
    if kid == ring.active:
        raise MasterKeyError(f"{kid} is the active master key; rotate first")
    if kid not in ring.keys:
        raise MasterKeyError(f"no master key {kid} in {ring.path}")
    needed = keys_in_use(vault.store).get(kid, 0)
    if needed:
        raise MasterKeyError(
            f"{kid} still wraps {needed} rows; run `flowat secrets rotate-key` to move "
            "them onto the active key first"
        )
    vault.use_keyring(retire_keys(ring, [kid]))
