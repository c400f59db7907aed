"""Workflows and their immutable versions.

A workflow is a name of one owner; each version holds its canonical spec JSON and
its content hash, numbered per workflow.

They share :class:`~flowat_kernel.store.table_base.Base` with every other table;
:mod:`flowat_kernel.store.tables` imports them all, so the mapper sees every table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from flowat_kernel.store.table_base import Base

__all__ = ["VersionRow", "WorkflowRow"]


class WorkflowRow(Base):
    """A named workflow of one owner; its content lives in versions."""

    __tablename__ = "workflows"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_workflows_owner_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VersionRow(Base):
    """An immutable version: number per workflow, content hash, canonical spec JSON."""

    __tablename__ = "workflow_versions"
    __table_args__ = (
        UniqueConstraint("workflow_id", "number", name="uq_versions_workflow_number"),
        UniqueConstraint("workflow_id", "spec_hash", name="uq_versions_workflow_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    spec_hash: Mapped[str] = mapped_column(String(80))
    spec: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128))
