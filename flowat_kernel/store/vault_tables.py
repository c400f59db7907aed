"""The vault's rows: sealed secrets, their history and use, and wrapped data keys.

No row holds a secret value or a key in clear (see :mod:`flowat_kernel.vault`).

They share :class:`~flowat_kernel.store.table_base.Base` with every other table;
:mod:`flowat_kernel.store.tables` imports them all, so the mapper sees every table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from flowat_kernel.store.table_base import Base

__all__ = ["SecretEventRow", "SecretRow", "SecretUsageRow", "VaultKeyRow"]


class SecretRow(Base):
    """One secret: its value sealed with envelope encryption, never in clear.

    ``nonce``, ``ciphertext`` and ``tag`` are the value under its data key;
    ``wrapped_key`` is the data key under the master key ``key_id``.
    """

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_secrets_owner_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(String(64), index=True)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    tag: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128))
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    rotated_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SecretEventRow(Base):
    """History metadata of a secret (set, rotated, deleted): when and by whom, no value."""

    __tablename__ = "secret_events"
    __table_args__ = (Index("ix_secret_events_owner_name", "owner", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))


class SecretUsageRow(Base):
    """Which workflows revealed a secret, and when last."""

    __tablename__ = "secret_usage"

    owner: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    workflow: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VaultKeyRow(Base):
    """A vault-managed data key (for the Temporal payload codec), wrapped by a master key."""

    __tablename__ = "vault_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[str] = mapped_column(String(64), index=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
