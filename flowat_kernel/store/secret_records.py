"""The vault's rows: sealed secrets, their events and usage, wrapped vault keys.

Only ciphertext, nonces, tags, wrapped data keys and metadata reach these methods; the
vault (:mod:`flowat_kernel.vault`) seals and opens values and wraps keys before and
after. Re-wrapping during a master-key rotation goes through callbacks, so the
cryptography stays in the vault and the SQL stays here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.tables import SecretEventRow, SecretRow, SecretUsageRow, VaultKeyRow
from flowat_kernel.store.transactions import Transactions

__all__ = [
    "SealedColumns",
    "SecretEvent",
    "SecretRecord",
    "SecretRecords",
    "VaultKeyRecord",
    "WrappedRewrap",
]

#: ``rewrap(row, key_id, wrapped_key)`` returns ``wrapped_key`` wrapped again under the
#: active master key; ``row`` is the row being re-wrapped (``owner`` and ``name`` for a
#: secret, ``id`` for a vault key), for the associated data.
WrappedRewrap = Callable[[Any, str, bytes], bytes]


@dataclass(frozen=True)
class SealedColumns:
    """The sealed value of a secret as stored (see ``flowat_kernel.vault.crypto.Sealed``)."""

    key_id: str
    nonce: bytes
    ciphertext: bytes
    tag: bytes
    wrapped_key: bytes


@dataclass(frozen=True)
class SecretRecord:
    """A secret's metadata, with the workflows that used it (never its value)."""

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


@dataclass(frozen=True)
class SecretEvent:
    """One change of a secret: ``set``, ``rotate`` or ``delete``."""

    action: str
    version: int
    at: datetime
    actor: str


@dataclass(frozen=True)
class VaultKeyRecord:
    """A random key of the vault (payload codec, sessions, webhooks), wrapped."""

    id: str
    purpose: str
    key_id: str
    wrapped_key: bytes


class SecretRecords(Transactions):
    """The vault half of :class:`~flowat_kernel.store.Store` (a mixin over its transactions)."""

    # -- secrets ---------------------------------------------------------------------

    def put_secret(self, owner: str, name: str, sealed: SealedColumns, actor: str) -> SecretRecord:
        """Store a secret's new sealed value (``set``, or ``rotate`` if it exists).

        The row is locked (``SELECT ... FOR UPDATE``) and conflicting writers retried, so
        concurrent writers get consecutive versions.
        """

        def work(session: Session) -> SecretRecord:
            row = _secret_row(session, owner, name, lock=True)
            now = utcnow()
            if row is None:
                row = SecretRow(owner=owner, name=name, version=1, created_at=now, created_by=actor)
                session.add(row)
                action = "set"
            else:
                row.version += 1
                row.rotated_at, row.rotated_by = now, actor
                action = "rotate"
            row.key_id = sealed.key_id
            row.nonce, row.ciphertext, row.tag = sealed.nonce, sealed.ciphertext, sealed.tag
            row.wrapped_key = sealed.wrapped_key
            session.add(
                SecretEventRow(
                    owner=owner, name=name, action=action, version=row.version, at=now, actor=actor
                )
            )
            session.flush()
            return _secret_record(session, row)

        return self.transaction(work, retry_conflicts=True)

    def sealed_secret(self, owner: str, name: str) -> SealedColumns | None:
        """A secret's sealed value (one read, no transaction), or ``None``."""
        table = SecretRow.__table__
        rows = self.read(
            select(
                table.c.key_id, table.c.nonce, table.c.ciphertext, table.c.tag, table.c.wrapped_key
            ).where(table.c.owner == owner, table.c.name == name)
        )
        if not rows:
            return None
        row = rows[0]
        return SealedColumns(row.key_id, row.nonce, row.ciphertext, row.tag, row.wrapped_key)

    def record_secret_usage(
        self, owner: str, names: list[str], workflow: str | None, now: datetime
    ) -> None:
        """Note that secrets were revealed at ``now`` (and by which workflow)."""

        def work(session: Session) -> None:
            session.execute(
                update(SecretRow)
                .where(SecretRow.owner == owner, SecretRow.name.in_(names))
                .values(last_used_at=now)
            )
            if workflow is None:
                return
            for name in names:
                row = session.get(SecretUsageRow, (owner, name, workflow))
                if row is None:
                    session.add(
                        SecretUsageRow(owner=owner, name=name, workflow=workflow, last_used_at=now)
                    )
                else:
                    row.last_used_at = now

        self.transaction(work, retry_conflicts=True)

    def secret_records(self, owner: str) -> list[SecretRecord]:
        """Every secret's metadata, by name."""

        def work(session: Session) -> list[SecretRecord]:
            rows = session.scalars(
                select(SecretRow).where(SecretRow.owner == owner).order_by(SecretRow.name)
            )
            return [_secret_record(session, row) for row in rows]

        return self.transaction(work)

    def secret_record(self, owner: str, name: str) -> SecretRecord | None:
        """One secret's metadata, or ``None``."""

        def work(session: Session) -> SecretRecord | None:
            row = _secret_row(session, owner, name)
            return None if row is None else _secret_record(session, row)

        return self.transaction(work)

    def secret_events(self, owner: str, name: str) -> list[SecretEvent]:
        """When a secret was set, rotated and deleted, and by whom, oldest first."""

        def work(session: Session) -> list[SecretEvent]:
            rows = session.scalars(
                select(SecretEventRow)
                .where(SecretEventRow.owner == owner, SecretEventRow.name == name)
                .order_by(SecretEventRow.id)
            )
            return [SecretEvent(r.action, r.version, aware(r.at) or r.at, r.actor) for r in rows]

        return self.transaction(work)

    def delete_secret(self, owner: str, name: str, actor: str) -> bool:
        """Delete a secret and its usage (its events stay); ``False`` if there was none.

        The row is locked (``SELECT ... FOR UPDATE``) while the ``delete`` event is added.
        """

        def work(session: Session) -> bool:
            row = _secret_row(session, owner, name, lock=True)
            if row is None:
                return False
            session.add(
                SecretEventRow(
                    owner=owner,
                    name=name,
                    action="delete",
                    version=row.version,
                    at=utcnow(),
                    actor=actor,
                )
            )
            session.execute(
                delete(SecretUsageRow).where(
                    SecretUsageRow.owner == owner, SecretUsageRow.name == name
                )
            )
            session.delete(row)
            return True

        return self.transaction(work)

    # -- vault keys ------------------------------------------------------------------

    def add_vault_key(self, kid: str, purpose: str, key_id: str, wrapped_key: bytes) -> None:
        """Store a wrapped key of ``purpose`` under id ``kid`` (``key_id``: its master key)."""
        row = VaultKeyRow(
            id=kid, purpose=purpose, key_id=key_id, wrapped_key=wrapped_key, created_at=utcnow()
        )
        self.transaction(lambda s: s.add(row))

    def vault_keys(self, purpose: str, kid: str | None = None) -> list[VaultKeyRecord]:
        """The wrapped keys of ``purpose`` (or just ``kid``), oldest first."""

        def work(session: Session) -> list[VaultKeyRecord]:
            query = select(VaultKeyRow).where(VaultKeyRow.purpose == purpose)
            if kid is not None:
                query = query.where(VaultKeyRow.id == kid)
            rows = session.scalars(query.order_by(VaultKeyRow.created_at, VaultKeyRow.id))
            return [VaultKeyRecord(r.id, r.purpose, r.key_id, r.wrapped_key) for r in rows]

        return self.transaction(work)

    def drop_vault_key(self, purpose: str, kid: str) -> None:
        """Delete one key of ``purpose``."""
        self.transaction(
            lambda s: s.execute(
                delete(VaultKeyRow).where(VaultKeyRow.purpose == purpose, VaultKeyRow.id == kid)
            )
        )

    # -- master-key rotation ---------------------------------------------------------

    def master_keys_in_use(self) -> dict[str, int]:
        """How many rows (secrets and vault keys) each master key id wraps."""

        def work(session: Session) -> dict[str, int]:
            counts: dict[str, int] = {}
            for table in (SecretRow, VaultKeyRow):
                for kid, count in session.execute(
                    select(table.key_id, func.count()).group_by(table.key_id)
                ):
                    counts[kid] = counts.get(kid, 0) + count
            return counts

        return self.transaction(work)

    def rewrap_batch(
        self,
        active: str,
        batch_size: int,
        rewrap_secret: WrappedRewrap,
        rewrap_vault_key: WrappedRewrap,
    ) -> int:
        """Re-wrap up to ``batch_size`` rows of each table under ``active``, in one transaction.

        One ``UPDATE ... WHERE id = ? AND key_id = <old>`` executed for the whole batch:
        the guard makes a row changed meanwhile (a concurrent ``set``, another
        rotation) keep its newer content. Returns the number of rows re-wrapped.
        """

        def work(session: Session) -> int:
            secrets = SecretRow.__table__
            keys = VaultKeyRow.__table__
            done = _rewrap_table(
                session,
                active,
                batch_size,
                secrets,
                [secrets.c.owner, secrets.c.name],
                rewrap_secret,
            )
            done += _rewrap_table(session, active, batch_size, keys, [], rewrap_vault_key)
            return done

        return self.transaction(work)


def _rewrap_table(
    session: Session,
    active: str,
    batch_size: int,
    table: Any,
    extra: list[Any],
    rewrap: WrappedRewrap,
) -> int:
    rows = session.execute(
        select(table.c.id, table.c.key_id, table.c.wrapped_key, *extra)
        .where(table.c.key_id != active)
        .limit(batch_size)
    ).all()
    if not rows:
        return 0
    params = [
        {
            "row_id": row.id,
            "old_key": row.key_id,
            "new_wrapped": rewrap(row, row.key_id, row.wrapped_key),
        }
        for row in rows
    ]
    session.execute(
        update(table)
        .where(table.c.id == bindparam("row_id"), table.c.key_id == bindparam("old_key"))
        .values(wrapped_key=bindparam("new_wrapped"), key_id=active),
        params,
    )
    return len(rows)


def _secret_row(session: Session, owner: str, name: str, lock: bool = False) -> SecretRow | None:
    query = select(SecretRow).where(SecretRow.owner == owner, SecretRow.name == name)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def _secret_record(session: Session, row: SecretRow) -> SecretRecord:
    used_by = session.scalars(
        select(SecretUsageRow.workflow)
        .where(SecretUsageRow.owner == row.owner, SecretUsageRow.name == row.name)
        .order_by(SecretUsageRow.workflow)
    ).all()
    return SecretRecord(
        name=row.name,
        owner=row.owner,
        version=row.version,
        created_at=aware(row.created_at) or row.created_at,
        created_by=row.created_by,
        rotated_at=aware(row.rotated_at),
        rotated_by=row.rotated_by,
        last_used_at=aware(row.last_used_at),
        used_by=tuple(used_by),
        key_id=row.key_id,
    )
