"""Runs, their steps, dead letters and approval links, and the shared workers.

What one execution of a version records as it goes (``run_records``,
``dead_letter_records``, ``approval_records`` and ``worker_records`` use them).

They share :class:`~flowat_kernel.store.table_base.Base` with every other table;
:mod:`flowat_kernel.store.tables` imports them all, so the mapper sees every table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from flowat_kernel.store.table_base import Base

__all__ = ["ApprovalLinkRow", "DeadLetterRow", "RunRow", "StepRunRow", "WorkerRow"]


class RunRow(Base):
    """One execution of a version."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_workflow_status", "workflow_id", "status"),
        Index("ix_runs_owner_created", "owner", "created_at"),
        Index("ix_runs_created", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("workflow_versions.id"))
    version_number: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(32))
    parameters: Mapped[dict[str, object]] = mapped_column(JSON)
    error: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    temporal_workflow_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: The task queue the run was started on (None: recorded before FlowAt kept it).
    task_queue: Mapped[str | None] = mapped_column(String(255), nullable=True)


class StepRunRow(Base):
    """One step of one run: state, attempts, timings, error and exported values."""

    __tablename__ = "step_runs"
    __table_args__ = (UniqueConstraint("run_id", "step", name="uq_step_runs_run_step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(128))
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    error: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    outputs: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    logs: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: What the step showed, as notebook output dicts (masked).
    display: Mapped[list[dict[str, object]] | None] = mapped_column(JSON, nullable=True)


class DeadLetterRow(Base):
    """A step that exhausted its retries: its sealed input, its error and its context."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_owner_status", "owner", "status"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    workflow: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(128))
    sealed_task: Mapped[bytes] = mapped_column(LargeBinary)
    error: Mapped[dict[str, object]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    redrive_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ApprovalLinkRow(Base):
    """A signed approve/reject link for one ``--wait-for`` step of one run (single use)."""

    __tablename__ = "approval_links"
    __table_args__ = (Index("ix_approval_links_run", "run_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[str] = mapped_column(String(64))
    step: Mapped[str] = mapped_column(String(255))
    signal: Mapped[str] = mapped_column(String(128))
    #: The vault key (``vault_keys``) the link's signature was made with.
    key_id: Mapped[str] = mapped_column(String(64))
    reviewer: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    consumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decision: Mapped[str | None] = mapped_column(String(32), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class WorkerRow(Base):
    """A shared worker process: its task queue and when it was last seen alive."""

    __tablename__ = "workers"
    __table_args__ = (Index("ix_workers_queue_seen", "task_queue", "seen_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_queue: Mapped[str] = mapped_column(String(255))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
