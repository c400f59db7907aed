"""Retention: how long runs are kept, the periodic job's lease, deleted runs' ids.

They share :class:`~flowat_kernel.store.table_base.Base` with every other table;
:mod:`flowat_kernel.store.tables` imports them all, so the mapper sees every table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from flowat_kernel.store.table_base import Base

__all__ = ["DeletedRunRow", "RetentionLeaseRow", "RetentionPolicyRow"]


class RetentionPolicyRow(Base):
    """How long runs of a workflow (or, ``workflow=''``, of the organization) are kept."""

    __tablename__ = "retention_policies"

    owner: Mapped[str] = mapped_column(String(128), primary_key=True)
    #: The workflow's name; ``''`` is the organization's default.
    workflow: Mapped[str] = mapped_column(String(128), primary_key=True)
    days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    keep: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(128))


class RetentionLeaseRow(Base):
    """A periodic job's lease: who runs it until when, and when it last finished."""

    __tablename__ = "retention_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DeletedRunRow(Base):
    """A deleted run's id, kept a while so files written for it later are found."""

    __tablename__ = "deleted_runs"
    __table_args__ = (Index("ix_deleted_runs_deleted_at", "deleted_at"),)

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    deleted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
