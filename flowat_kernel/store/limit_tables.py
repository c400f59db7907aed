"""Limits: concurrency limits and waiting runs, rate limits and their leases, breakers.

They share :class:`~flowat_kernel.store.table_base.Base` with every other table;
:mod:`flowat_kernel.store.tables` imports them all, so the mapper sees every table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from flowat_kernel.store.table_base import Base

__all__ = [
    "CircuitBreakerRow",
    "ConcurrencyLimitRow",
    "RateLimitLeaseRow",
    "RateLimitRow",
    "RunAdmissionRow",
]


class ConcurrencyLimitRow(Base):
    """How many runs of a workflow (or, ``workflow=''``, of each workflow) may run at once."""

    __tablename__ = "concurrency_limits"

    owner: Mapped[str] = mapped_column(String(128), primary_key=True)
    #: The workflow's name; ``''`` is the organization's default.
    workflow: Mapped[str] = mapped_column(String(128), primary_key=True)
    max_concurrent_runs: Mapped[int] = mapped_column(Integer)
    #: ``queue``, ``skip`` or ``cancel-oldest``.
    when_full: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(128))


class RunAdmissionRow(Base):
    """A run waiting for a slot under its workflow's concurrency limit (FIFO by ``seq``)."""

    __tablename__ = "run_admissions"
    __table_args__ = (Index("ix_run_admissions_workflow_seq", "workflow_id", "seq"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    workflow_id: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    #: The run this one cancelled to make room (``cancel-oldest``), if any.
    evicts: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: When the waiting workflow last asked: a waiter silent for long loses its place.
    polled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RateLimitRow(Base):
    """A connector host's rate limit in one organization (``connector='*'``: any connector)."""

    __tablename__ = "rate_limits"

    owner: Mapped[str] = mapped_column(String(128), primary_key=True)
    connector: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    per_second: Mapped[int | None] = mapped_column(Integer, nullable=True)
    concurrent: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(128))
    #: Written by every admission: the row lock that serialises admissions to the host.
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RateLimitLeaseRow(Base):
    """One admitted call under a rate limit: in flight until ``finished_at``."""

    __tablename__ = "rate_limit_leases"
    __table_args__ = (Index("ix_rate_limit_leases_key", "owner", "connector", "host"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    connector: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: A worker that died mid-call frees its slot at this time.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CircuitBreakerRow(Base):
    """The shared state of one circuit breaker (a connector and a target host)."""

    __tablename__ = "circuit_breakers"

    connector: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    failures: Mapped[int] = mapped_column(Integer)
    openings: Mapped[int] = mapped_column(Integer)
    open_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
