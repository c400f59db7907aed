"""The vault: secrets sealed in the metadata store, master keys outside it.

Rows hold only ciphertext, nonces, tags, wrapped data keys and metadata. Values are
decrypted one at a time, when a step asks for one, and never written anywhere else.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flowat_kernel.errors import MasterKeyError, SecretNotFound, VaultError
from flowat_kernel.store import Store
from flowat_kernel.store.repository import utcnow
from flowat_kernel.store.secret_records import SealedColumns, SecretRecord
from flowat_kernel.vault import crypto, rotation
from flowat_kernel.vault.crypto import payload_key_aad as _payload_aad
from flowat_kernel.vault.crypto import secret_aad as _secret_aad
from flowat_kernel.vault.keyring import (
    KeyRing,
    load_keyring,
)
from flowat_kernel.vault.rotation import RotationReport

__all__ = ["MAX_SECRET_BYTES", "SecretInfo", "Vault", "check_secret_name"]

MAX_SECRET_BYTES = 64 * 1024
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")
_PAYLOAD = "payload"


def check_secret_name(name: object) -> str:
    """Validate a secret name (letters, digits, ``_ . -``; starts with a letter or ``_``).

    Raises:
        VaultError: the name is not valid; says what is allowed.

    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise VaultError(
            f"{name!r} is not a valid secret name: use up to 128 letters, digits, '_', "
            "'.' or '-', starting with a letter or '_' (for example 'openai_api_key')"
        )
    return name


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _sealed(row: SealedColumns) -> crypto.Sealed:
    return crypto.Sealed(row.nonce, row.ciphertext, row.tag, row.wrapped_key, row.key_id)


@dataclass(frozen=True)
class SecretInfo:
    """What anyone may see of a secret: metadata, never the value."""

    name: str
    owner: str
    version: int
    created_at: datetime
    created_by: str
    rotated_at: datetime | None
    rotated_by: str | None
    last_used_at: datetime | None
    used_by: tuple[str, ...]
    key_id: str

    def as_dict(self) -> dict[str, object]:
        """JSON-able metadata."""
        return {
            "name": self.name,
            "owner": self.owner,
            "version": self.version,
            "created_at": _stamp(self.created_at),
            "created_by": self.created_by,
            "rotated_at": _stamp(self.rotated_at),
            "rotated_by": self.rotated_by,
            "last_used_at": _stamp(self.last_used_at),
            "used_by": list(self.used_by),
            "key_id": self.key_id,
        }


class Vault:
    """Secrets of one metadata store, sealed with the master keys of one ``FLOWAT_HOME``.

    Args:
        store: the metadata store holding the sealed rows.
        home: ``FLOWAT_HOME``, where the key file lives unless ``FLOWAT_MASTER_KEY`` is set.
        owner: default owner of secrets (the organization, once RBAC lands).

    """

    def __init__(self, store: Store, home: Path, owner: str) -> None:
        self.store = store
        self.home = home
        self.owner = owner
        self._ring: KeyRing | None = None

    # -- keys ----------------------------------------------------------------------

    @property
    def keyring(self) -> KeyRing:
        """The master keys (loaded, or created, on first use)."""
        if self._ring is None:
            self._ring = load_keyring(self.home)
        return self._ring

    def reload_keys(self) -> KeyRing:
        """Read the master keys again (after another process rotated them)."""
        self._ring = None
        return self.keyring

    def _key_for(self, kid: str) -> bytes:
        try:
            return self.keyring.get(kid)
        except MasterKeyError:
            return self.reload_keys().get(kid)

    # -- secrets -------------------------------------------------------------------

    def set(
        self, name: str, value: str, actor: str | None = None, owner: str | None = None
    ) -> SecretInfo:
        """Create a secret, or rotate its value (the old value is not kept, only history).

        Raises:
            VaultError: bad name, empty or oversized value.

        """
        check_secret_name(name)
        if not isinstance(value, str):
            raise VaultError(f"the value of secret {name!r} must be text (str)")
        raw = value.encode()
        if not raw:
            raise VaultError(f"the value of secret {name!r} is empty; nothing was stored")
        if len(raw) > MAX_SECRET_BYTES:
            raise VaultError(
                f"the value of secret {name!r} is {len(raw)} bytes; the limit is "
                f"{MAX_SECRET_BYTES}. Store large credentials as a file and keep its "
                "password here."
            )
        owner = owner or self.owner
        actor = actor or self.owner
        ring = self.keyring
        sealed = crypto.seal(ring.active_key, ring.active, raw, _secret_aad(owner, name))

        columns = SealedColumns(
            sealed.key_id, sealed.nonce, sealed.ciphertext, sealed.tag, sealed.wrapped_key
        )
        return _info(self.store.put_secret(owner, name, columns, actor))

    def reveal_value(self, name: str, owner: str | None = None) -> str:
        """Decrypt one secret. Callers hold it only as long as they need it.

        Raises:
            SecretNotFound: no secret of that name; says how to set one.
            MasterKeyError: the key the row needs is not configured.
            VaultAuthenticationError: the row was altered or moved.

        """
        check_secret_name(name)
        owner = owner or self.owner
        row = self.store.sealed_secret(owner, name)
        if row is None:
            raise SecretNotFound(
                f"no secret named {name!r} for {owner!r}; set it with "
                f"`%flowat secret set {name}` in a notebook or `flowat secrets set {name}` "
                "(which reads the value from standard input)"
            )
        master = self._key_for(row.key_id)
        return crypto.open_sealed(master, _sealed(row), _secret_aad(owner, name)).decode()

    def record_usage(
        self, names: Iterable[str], workflow: str | None, owner: str | None = None
    ) -> None:
        """Note that secrets were revealed (and by which workflow); metadata only."""
        names = sorted(set(names))
        if not names:
            return
        owner = owner or self.owner
        self.store.record_secret_usage(owner, names, workflow, utcnow())

    def list_secrets(self, owner: str | None = None) -> list[SecretInfo]:
        """Every secret's metadata, by name."""
        owner = owner or self.owner
        return [_info(r) for r in self.store.secret_records(owner)]

    def info(self, name: str, owner: str | None = None) -> SecretInfo:
        """One secret's metadata.

        Raises:
            SecretNotFound: no secret of that name.

        """
        owner = owner or self.owner
        record = self.store.secret_record(owner, check_secret_name(name))
        if record is None:
            raise SecretNotFound(
                f"no secret named {name!r} for {owner!r}; `flowat secrets list` shows "
                "the names there are"
            )
        return _info(record)

    def history(self, name: str, owner: str | None = None) -> list[dict[str, object]]:
        """When a secret was set, rotated and deleted, and by whom (never values)."""
        owner = owner or self.owner
        return [
            {"action": e.action, "version": e.version, "at": e.at.isoformat(), "by": e.actor}
            for e in self.store.secret_events(owner, name)
        ]

    def delete(self, name: str, actor: str | None = None, owner: str | None = None) -> None:
        """Delete a secret (its history metadata stays).

        Raises:
            SecretNotFound: no secret of that name.

        """
        owner = owner or self.owner
        if not self.store.delete_secret(owner, check_secret_name(name), actor or self.owner):
            raise SecretNotFound(
                f"no secret named {name!r} for {owner!r}; nothing deleted "
                "(`flowat secrets list` shows the names there are)"
            )

    # -- master-key rotation (see :mod:`flowat_kernel.vault.rotation`) ------------

    def key_for(self, kid: str) -> bytes:
        """The master key ``kid`` (reading the key file again if another process rotated).

        Raises:
            MasterKeyError: no configured key has that id.

        """
        return self._key_for(kid)

    def use_keyring(self, ring: KeyRing) -> None:
        """Adopt ``ring`` (after this process changed the key file)."""
        self._ring = ring

    def keys_in_use(self) -> dict[str, int]:
        """How many rows (secrets and vault keys) each master key id wraps."""
        return rotation.keys_in_use(self.store)

    def rotate_master_key(
        self,
        new_key: bytes | None = None,
        batch_size: int = 500,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> RotationReport:
        """Re-wrap every data key under a new master key (or finish an interrupted rotation).

        See :func:`flowat_kernel.vault.rotation.rotate_master_key`.
        """
        return rotation.rotate_master_key(self, new_key, batch_size, on_batch)

    def retire_key(self, kid: str) -> None:
        """Retire one master key, refusing while any row still needs it.

        See :func:`flowat_kernel.vault.rotation.retire_key`.
        """
        rotation.retire_key(self, kid)

    # -- payload-codec keys --------------------------------------------------------

    def payload_keys(self) -> tuple[str, dict[str, bytes]]:
        """The data keys of the Temporal payload codec: (active id, keys by id).

        The first call on a new store creates one, wrapped by the active master key.
        """
        rows = self.store.vault_keys(_PAYLOAD)
        if not rows:
            ring = self.keyring
            kid = "pk-" + os.urandom(8).hex()
            key = os.urandom(crypto.KEY_BYTES)
            wrapped = crypto.wrap_data_key(ring.active_key, key, _payload_aad(kid))
            self.store.add_vault_key(kid, _PAYLOAD, ring.active, wrapped)
            rows = self.store.vault_keys(_PAYLOAD)
        keys = {
            row.id: crypto.unwrap_data_key(
                self._key_for(row.key_id), row.wrapped_key, _payload_aad(row.id)
            )
            for row in rows
        }
        return rows[-1].id, keys


def _info(record: SecretRecord) -> SecretInfo:
    return SecretInfo(
        name=record.name,
        owner=record.owner,
        version=record.version,
        created_at=record.created_at,
        created_by=record.created_by,
        rotated_at=record.rotated_at,
        rotated_by=record.rotated_by,
        last_used_at=record.last_used_at,
        used_by=record.used_by,
        key_id=record.key_id,
    )
