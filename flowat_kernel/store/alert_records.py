"""Alerts and their deliveries: one delivery row per (alert, run, event), never two.

An alert is an action of an organization, for one workflow or (``workflow`` unset) as
the organization's default for workflows that have no alert of their own for that
event. A delivery's id derives from (alert, run, event), so recording it twice is
impossible, and the id is also the idempotency key its receiver sees.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flowat_kernel.errors import NotFoundError
from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.tables import AlertDeliveryRow, AlertRow

__all__ = ["AlertDelivery", "AlertInfo", "AlertRecords", "delivery_id"]

T = TypeVar("T")


@dataclass(frozen=True)
class AlertInfo:
    """One alert: when (``event``) to do what (``kind`` to ``target``, with ``message``)."""

    id: str
    owner: str
    workflow: str | None
    event: str
    kind: str
    target: str
    message: str | None
    created_at: datetime
    created_by: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


@dataclass(frozen=True)
class AlertDelivery:
    """One alert for one run and event: its status, attempts and last (masked) error."""

    id: str
    alert_id: str
    run_id: str
    event: str
    owner: str
    status: str
    attempts: int
    last_error: str | None
    handler_run_id: str | None
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["updated_at"] = self.updated_at.isoformat()
        return data


def delivery_id(alert_id: str, run_id: str, event: str) -> str:
    """The delivery's id: the same for the same (alert, run, event), everywhere."""
    digest = hashlib.sha256(f"{alert_id}\n{run_id}\n{event}".encode()).hexdigest()
    return f"flowat-alert-{digest[:40]}"


def _alert(row: AlertRow) -> AlertInfo:
    return AlertInfo(
        row.id,
        row.owner,
        row.workflow,
        row.event,
        row.kind,
        row.target,
        row.message,
        aware(row.created_at) or row.created_at,
        row.created_by,
    )


def _delivery(row: AlertDeliveryRow) -> AlertDelivery:
    return AlertDelivery(
        row.id,
        row.alert_id,
        row.run_id,
        row.event,
        row.owner,
        row.status,
        row.attempts,
        row.last_error,
        row.handler_run_id,
        aware(row.created_at) or row.created_at,
        aware(row.updated_at) or row.updated_at,
    )


class AlertRecords:
    """The store's alerts (mixed into :class:`~flowat_kernel.store.Store`)."""

    def transaction(self, work: Callable[[Session], T], retry_conflicts: bool = False) -> T:
        """Provided by the store."""
        raise NotImplementedError

    def add_alert(
        self,
        owner: str,
        workflow: str | None,
        event: str,
        kind: str,
        target: str,
        message: str | None,
        actor: str,
    ) -> AlertInfo:
        """Record a new alert of ``owner``; ``workflow=None`` is the organization's default."""
        row = AlertRow(
            id=f"al_{secrets.token_hex(8)}",
            owner=owner,
            workflow=workflow,
            event=event,
            kind=kind,
            target=target,
            message=message,
            created_at=utcnow(),
            created_by=actor,
        )

        def work(session: Session) -> AlertInfo:
            session.add(row)
            session.flush()
            return _alert(row)

        return self.transaction(work)

    def list_alerts(self, owner: str, workflow: str | None = None) -> list[AlertInfo]:
        """``owner``'s alerts, oldest first; with ``workflow``, its own and the defaults."""
        statement = select(AlertRow).where(AlertRow.owner == owner)
        if workflow is not None:
            statement = statement.where(
                or_(AlertRow.workflow == workflow, AlertRow.workflow.is_(None))
            )
        statement = statement.order_by(AlertRow.created_at, AlertRow.id)
        return self.transaction(lambda s: [_alert(r) for r in s.scalars(statement)])

    def remove_alert(self, owner: str, alert_id: str) -> AlertInfo:
        """Delete one of ``owner``'s alerts (its deliveries stay, as history).

        Raises:
            NotFoundError: ``owner`` has no such alert.

        """

        def work(session: Session) -> AlertInfo:
            row = session.get(AlertRow, alert_id)
            if row is None or row.owner != owner:
                raise NotFoundError(f"no alert {alert_id!r}; `flowat alerts list` shows them")
            info = _alert(row)
            session.execute(delete(AlertRow).where(AlertRow.id == alert_id))
            return info

        return self.transaction(work)

    def alerts_for(self, owner: str, workflow: str, event: str) -> list[AlertInfo]:
        """The alerts a run of ``workflow`` ending with ``event`` sets off.

        The workflow's own alerts for that event; when it has none, the organization's
        defaults for it.
        """
        found = [a for a in self.list_alerts(owner, workflow) if a.event == event]
        own = [a for a in found if a.workflow == workflow]
        return own or [a for a in found if a.workflow is None]

    def open_delivery(self, alert: AlertInfo, run_id: str, event: str) -> AlertDelivery:
        """The delivery of ``alert`` for (``run_id``, ``event``), recorded on first call."""
        key = delivery_id(alert.id, run_id, event)
        now = utcnow()

        def insert(session: Session) -> None:
            if session.get(AlertDeliveryRow, key) is None:
                session.add(
                    AlertDeliveryRow(
                        id=key,
                        alert_id=alert.id,
                        run_id=run_id,
                        event=event,
                        owner=alert.owner,
                        status="pending",
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                    )
                )

        with contextlib.suppress(IntegrityError):  # a concurrent first call recorded it
            self.transaction(insert)
        return self.delivery(key)

    def delivery(self, key: str) -> AlertDelivery:
        """One delivery by id.

        Raises:
            NotFoundError: no such delivery.

        """

        def work(session: Session) -> AlertDelivery:
            row = session.get(AlertDeliveryRow, key)
            if row is None:
                raise NotFoundError(f"no alert delivery {key!r}")
            return _delivery(row)

        return self.transaction(work)

    def delivery_attempted(
        self,
        key: str,
        status: str,
        error: str | None = None,
        handler_run_id: str | None = None,
    ) -> AlertDelivery:
        """Record an attempt's outcome; ``error`` must already be masked.

        ``sending`` counts an attempt; then ``delivered``, ``retrying`` or ``failed``.
        """

        def work(session: Session) -> AlertDelivery:
            row = session.get(AlertDeliveryRow, key)
            if row is None:
                raise NotFoundError(f"no alert delivery {key!r}")
            if status == "sending":
                row.attempts += 1
            row.status = status
            if error is not None or status == "delivered":
                row.last_error = error
            if handler_run_id is not None:
                row.handler_run_id = handler_run_id
            row.updated_at = utcnow()
            return _delivery(row)

        return self.transaction(work)

    def alert_deliveries(
        self, owner: str, run_id: str | None = None, alert_id: str | None = None
    ) -> list[AlertDelivery]:
        """``owner``'s deliveries, oldest first, of one run and/or one alert."""
        statement = select(AlertDeliveryRow).where(AlertDeliveryRow.owner == owner)
        if run_id is not None:
            statement = statement.where(AlertDeliveryRow.run_id == run_id)
        if alert_id is not None:
            statement = statement.where(AlertDeliveryRow.alert_id == alert_id)
        statement = statement.order_by(AlertDeliveryRow.created_at, AlertDeliveryRow.id)
        return self.transaction(lambda s: [_delivery(r) for r in s.scalars(statement)])
