"""Triggers: webhooks, the deliveries they have seen, and Temporal Schedules.

``owner`` is the organization's slug (migration 0004).

They share :class:`~flowat_kernel.store.table_base.Base` with every other table;
:mod:`flowat_kernel.store.tables` imports them all, so the mapper sees every table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from flowat_kernel.store.table_base import Base

__all__ = ["ScheduleRow", "WebhookDeliveryRow", "WebhookRow"]


class WebhookRow(Base):
    """A workflow's trigger URL: the token is stored as a hash; the signing key in the vault."""

    __tablename__ = "webhooks"
    __table_args__ = (
        Index("ix_webhooks_owner", "owner"),
        UniqueConstraint("token_hash", name="uq_webhooks_token_hash"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    workflow: Mapped[str] = mapped_column(String(128))
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    token_hint: Mapped[str] = mapped_column(String(16))
    signed: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128))
    last_delivery_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    #: Batching (``NULL``: one run per delivery): at most this many events per run ...
    batch_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: ... gathered for at most this long after the first one.
    batch_window_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)


class WebhookDeliveryRow(Base):
    """A delivery id seen recently, for duplicate suppression."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_received_at", "received_at"),)

    webhook_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: A batched event: its index in the run's ``events`` (``NULL``: a run of its own).
    batch_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: A batched event's own outcome: queued, succeeded, failed, cancelled, timed_out.
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)


class ScheduleRow(Base):
    """A Temporal Schedule FlowAt created, and the organization it belongs to."""

    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_owner", "owner"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    workflow: Mapped[str] = mapped_column(String(128))
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    spec: Mapped[dict[str, object]] = mapped_column(JSON)
    parameters: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128))
