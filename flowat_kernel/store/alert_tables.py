"""Alerts on a run's end, and their deliveries (at most one per alert, run and event).

They share :class:`~flowat_kernel.store.table_base.Base` with every other table;
:mod:`flowat_kernel.store.tables` imports them all, so the mapper sees every table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from flowat_kernel.store.table_base import Base

__all__ = ["AlertDeliveryRow", "AlertRow"]


class AlertRow(Base):
    """An alert: what to do when a run of a workflow (or of any, ``NULL``) ends so."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_owner_workflow", "owner", "workflow"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    workflow: Mapped[str | None] = mapped_column(String(128), nullable=True)
    event: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(2048))
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128))


class AlertDeliveryRow(Base):
    """One alert for one run and event: at most one row, so at most one delivery."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", "run_id", "event", name="uq_alert_deliveries_once"),
        Index("ix_alert_deliveries_run", "run_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    handler_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
