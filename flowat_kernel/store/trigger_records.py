"""Webhooks, their deliveries, and the store's side of schedules.

A webhook's token is stored only as a hash and its signing secret as a wrapped vault
key (:mod:`flowat_kernel.store.secret_records`); a schedule lives in Temporal and its
row here says which organization it belongs to. Creating and removing either writes
its ``audit_log`` entry in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flowat_kernel.errors import NotFoundError
from flowat_kernel.store.audit_records import write_audit
from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.tables import ScheduleRow, WebhookDeliveryRow, WebhookRow
from flowat_kernel.store.transactions import Transactions

__all__ = ["DeliveryRecord", "ScheduleRecord", "TriggerRecords", "WebhookRecord"]

#: How long a batched event's delivery record (with its outcome) is kept.
BATCHED_RECORD_DAYS = 7


@dataclass(frozen=True)
class WebhookRecord:
    """A webhook's row (its token only as a hint; the hash stays in the store)."""

    id: str
    owner: str
    workflow: str
    version: int | None
    token_hint: str
    signed: bool
    created_at: datetime
    created_by: str
    last_delivery_at: datetime | None
    #: Batching: at most this many events per run (``None``: one run per delivery) ...
    batch_size: int | None = None
    #: ... gathered for at most this many milliseconds after the first.
    batch_window_ms: int | None = None


@dataclass(frozen=True)
class DeliveryRecord:
    """A delivery remembered for a webhook: when, the run that holds it, its outcome."""

    message_id: str
    received_at: datetime
    run_id: str | None
    batch_index: int | None
    status: str | None


@dataclass(frozen=True)
class ScheduleRecord:
    """A schedule's row: whose it is and what it starts."""

    id: str
    owner: str
    workflow: str
    version: int | None
    spec: dict[str, Any]
    parameters: dict[str, Any]
    created_at: datetime
    created_by: str


class TriggerRecords(Transactions):
    """The trigger half of :class:`~flowat_kernel.store.Store` (a mixin over its transactions)."""

    # -- webhooks --------------------------------------------------------------------

    def add_webhook(
        self,
        *,
        webhook_id: str,
        owner: str,
        workflow: str,
        version: int | None,
        token_hash: str,
        token_hint: str,
        signed: bool,
        created_by: str,
        batch_size: int | None = None,
        batch_window_ms: int | None = None,
    ) -> WebhookRecord:
        """Store a new webhook (audited as ``webhook.created`` by ``created_by``)."""

        def work(session: Session) -> WebhookRecord:
            row = WebhookRow(
                id=webhook_id,
                owner=owner,
                workflow=workflow,
                version=version,
                token_hash=token_hash,
                token_hint=token_hint,
                signed=signed,
                created_at=utcnow(),
                created_by=created_by,
                batch_size=batch_size,
                batch_window_ms=batch_window_ms,
            )
            session.add(row)
            detail: dict[str, Any] = {"workflow": workflow, "version": version, "signed": signed}
            if batch_size is not None:
                detail.update(batch_size=batch_size, batch_window_ms=batch_window_ms)
            write_audit(session, owner, created_by, "webhook.created", webhook_id, detail)
            session.flush()
            return _webhook(row)

        return self.transaction(work)

    def webhooks(self, owner: str) -> list[WebhookRecord]:
        """The organization's webhooks, oldest first."""
        query = select(WebhookRow).where(WebhookRow.owner == owner).order_by(WebhookRow.created_at)
        return self.transaction(lambda s: [_webhook(r) for r in s.scalars(query)])

    def webhook(self, owner: str, webhook_id: str) -> WebhookRecord:
        """One webhook of the organization.

        Raises:
            NotFoundError: no such webhook in this organization.

        """

        def work(session: Session) -> WebhookRecord:
            row = session.get(WebhookRow, webhook_id)
            if row is None or row.owner != owner:
                raise NotFoundError(f"no webhook {webhook_id!r} in this organization")
            return _webhook(row)

        return self.transaction(work)

    def find_webhook(self, token_hash: str) -> WebhookRecord | None:
        """The webhook whose token has this hash (one read, no transaction), or ``None``."""
        rows = self.read(select(WebhookRow).where(WebhookRow.token_hash == token_hash))
        return _webhook(rows[0]) if rows else None  # a row of columns, read outside the ORM

    def delete_webhook(self, owner: str, webhook_id: str, actor: str) -> None:
        """Delete a webhook and its deliveries (audited as ``webhook.deleted`` in ``owner``)."""

        def work(session: Session) -> None:
            session.execute(delete(WebhookRow).where(WebhookRow.id == webhook_id))
            session.execute(
                delete(WebhookDeliveryRow).where(WebhookDeliveryRow.webhook_id == webhook_id)
            )
            write_audit(session, owner, actor, "webhook.deleted", webhook_id, {})

        self.transaction(work)

    def claim_webhook_delivery(
        self, webhook_id: str, message_id: str, now: datetime, horizon: datetime
    ) -> bool:
        """Remember a delivery id received at ``now``; forget those received before ``horizon``.

        Returns ``False`` (and remembers nothing) when this id was delivered before.
        """

        def work(session: Session) -> None:
            _forget(session, now, horizon)
            session.add(
                WebhookDeliveryRow(webhook_id=webhook_id, message_id=message_id, received_at=now)
            )

        try:
            self.transaction(work)
        except IntegrityError:
            return False
        return True

    def release_webhook_delivery(self, webhook_id: str, message_id: str) -> None:
        """Forget a delivery id."""
        self.transaction(
            lambda s: s.execute(
                delete(WebhookDeliveryRow).where(
                    WebhookDeliveryRow.webhook_id == webhook_id,
                    WebhookDeliveryRow.message_id == message_id,
                )
            )
        )

    def webhook_delivered(self, webhook_id: str, message_id: str | None, run_id: str) -> None:
        """Note the time of a delivery and the run it started."""

        def work(session: Session) -> None:
            row = session.get(WebhookRow, webhook_id)
            if row is not None:
                row.last_delivery_at = utcnow()
            if message_id is not None:
                delivery = session.get(WebhookDeliveryRow, (webhook_id, message_id))
                if delivery is not None:
                    delivery.run_id = run_id

        self.transaction(work)

    def claim_webhook_batch(
        self, webhook_id: str, message_ids: list[str], now: datetime, horizon: datetime
    ) -> set[str]:
        """Remember many delivery ids in one transaction; the set of those newly claimed.

        An id delivered before (or twice in ``message_ids``) is left out of the result.
        """
        unique = list(dict.fromkeys(message_ids))

        def work(session: Session) -> set[str]:
            _forget(session, now, horizon)
            seen = set(
                session.scalars(
                    select(WebhookDeliveryRow.message_id).where(
                        WebhookDeliveryRow.webhook_id == webhook_id,
                        WebhookDeliveryRow.message_id.in_(unique),
                    )
                )
            )
            fresh = [m for m in unique if m not in seen]
            session.add_all(
                WebhookDeliveryRow(
                    webhook_id=webhook_id, message_id=m, received_at=now, status="received"
                )
                for m in fresh
            )
            return set(fresh)

        try:
            return self.transaction(work)
        except IntegrityError:  # a concurrent claim of one of them: one by one
            return {m for m in unique if self.claim_webhook_delivery(webhook_id, m, now, horizon)}

    def webhook_batch_placed(
        self, webhook_id: str, run_id: str, placements: dict[str, int], status: str = "queued"
    ) -> None:
        """Record that the events ``placements`` (message id: index) are in run ``run_id``."""

        def work(session: Session) -> None:
            row = session.get(WebhookRow, webhook_id)
            if row is not None:
                row.last_delivery_at = utcnow()
            for message_id, index in placements.items():
                delivery = session.get(WebhookDeliveryRow, (webhook_id, message_id))
                if delivery is not None:
                    delivery.run_id, delivery.batch_index, delivery.status = run_id, index, status

        self.transaction(work)

    def webhook_delivery_outcomes(self, webhook_id: str, outcomes: dict[str, str]) -> None:
        """Record each batched event's own outcome (message id: status)."""

        def work(session: Session) -> None:
            for message_id, status in outcomes.items():
                delivery = session.get(WebhookDeliveryRow, (webhook_id, message_id))
                if delivery is not None:
                    delivery.status = status

        self.transaction(work)

    def webhook_deliveries(self, webhook_id: str, limit: int = 100) -> list[DeliveryRecord]:
        """The deliveries remembered for a webhook, newest first (one read)."""
        row = WebhookDeliveryRow
        query = (
            select(row.message_id, row.received_at, row.run_id, row.batch_index, row.status)
            .where(WebhookDeliveryRow.webhook_id == webhook_id)
            .order_by(WebhookDeliveryRow.received_at.desc(), WebhookDeliveryRow.message_id)
            .limit(limit)
        )
        return [
            DeliveryRecord(
                message_id=r.message_id,
                received_at=aware(r.received_at) or utcnow(),
                run_id=r.run_id,
                batch_index=r.batch_index,
                status=r.status,
            )
            for r in self.read(query)
        ]

    # -- schedules -------------------------------------------------------------------

    def add_schedule(
        self,
        *,
        schedule_id: str,
        owner: str,
        workflow: str,
        version: int | None,
        spec: dict[str, Any],
        parameters: dict[str, Any],
        created_by: str,
    ) -> ScheduleRecord:
        """Store a new schedule's row (audited as ``schedule.created`` by ``created_by``)."""

        def work(session: Session) -> ScheduleRecord:
            row = ScheduleRow(
                id=schedule_id,
                owner=owner,
                workflow=workflow,
                version=version,
                spec=spec,
                parameters=parameters,
                created_at=utcnow(),
                created_by=created_by,
            )
            session.add(row)
            detail = {"workflow": workflow, "version": version, **spec}
            write_audit(session, owner, created_by, "schedule.created", schedule_id, detail)
            session.flush()
            return _schedule(row)

        return self.transaction(work)

    def schedule(self, owner: str, schedule_id: str) -> ScheduleRecord:
        """One schedule of the organization.

        Raises:
            NotFoundError: no such schedule in this organization.

        """

        def work(session: Session) -> ScheduleRecord:
            row = session.get(ScheduleRow, schedule_id)
            if row is None or row.owner != owner:
                raise NotFoundError(f"no schedule {schedule_id!r} in this organization")
            return _schedule(row)

        return self.transaction(work)

    def schedule_ids(self, owner: str) -> list[str]:
        """The ids of the organization's schedules, oldest first (one read)."""
        query = select(ScheduleRow.id).where(ScheduleRow.owner == owner)
        return [str(r[0]) for r in self.read(query.order_by(ScheduleRow.created_at))]

    def schedule_changed(
        self, owner: str, schedule_id: str, action: str, actor: str, *, deleted: bool = False
    ) -> None:
        """Audit ``schedule.<action>``; with ``deleted``, remove the row in the same transaction."""

        def work(session: Session) -> None:
            if deleted:
                session.execute(delete(ScheduleRow).where(ScheduleRow.id == schedule_id))
            write_audit(session, owner, actor, f"schedule.{action}", schedule_id, {})

        self.transaction(work)


def _webhook(row: Any) -> WebhookRecord:
    """From a ``WebhookRow`` or a row of its columns."""
    return WebhookRecord(
        id=row.id,
        owner=row.owner,
        workflow=row.workflow,
        version=row.version,
        token_hint=row.token_hint,
        signed=row.signed,
        created_at=aware(row.created_at) or utcnow(),
        created_by=row.created_by,
        last_delivery_at=aware(row.last_delivery_at),
        batch_size=row.batch_size,
        batch_window_ms=row.batch_window_ms,
    )


def _forget(session: Session, now: datetime, horizon: datetime) -> None:
    """Forget delivery ids received before ``horizon``.

    Batched events' records are kept :data:`BATCHED_RECORD_DAYS` for their outcome.
    """
    session.execute(
        delete(WebhookDeliveryRow).where(
            WebhookDeliveryRow.received_at < horizon, WebhookDeliveryRow.batch_index.is_(None)
        )
    )
    session.execute(
        delete(WebhookDeliveryRow).where(
            WebhookDeliveryRow.received_at < now - timedelta(days=BATCHED_RECORD_DAYS)
        )
    )


def _schedule(row: ScheduleRow) -> ScheduleRecord:
    return ScheduleRecord(
        id=row.id,
        owner=row.owner,
        workflow=row.workflow,
        version=row.version,
        spec=dict(row.spec),
        parameters=dict(row.parameters),
        created_at=aware(row.created_at) or utcnow(),
        created_by=row.created_by,
    )
