"""Changes to existing triggers' rows: a schedule's timing and parameters, a webhook's batching.

Each change writes its ``audit_log`` entry in the same transaction (``schedule.updated``,
``webhook.batching``, ``webhook.secret_rotated``); no entry names a token or a secret.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from flowat_kernel.errors import NotFoundError
from flowat_kernel.store.audit_records import write_audit
from flowat_kernel.store.tables import ScheduleRow, WebhookRow
from flowat_kernel.store.transactions import Transactions

__all__ = ["TriggerEditRecords"]


class TriggerEditRecords(Transactions):
    """The trigger-editing half of :class:`~flowat_kernel.store.Store` (a mixin)."""

    def update_schedule_row(
        self,
        owner: str,
        schedule_id: str,
        *,
        version: int | None,
        spec: dict[str, Any],
        parameters: dict[str, Any],
        actor: str,
    ) -> None:
        """Replace a schedule's timing, version and parameters (audited).

        Raises:
            NotFoundError: no such schedule in this organization.

        """

        def work(session: Session) -> None:
            row = session.get(ScheduleRow, schedule_id)
            if row is None or row.owner != owner:
                raise NotFoundError(f"no schedule {schedule_id!r} in this organization")
            row.version = version
            row.spec = dict(spec)
            row.parameters = dict(parameters)
            detail = {"version": version, **spec, "parameters": sorted(parameters)}
            write_audit(session, owner, actor, "schedule.updated", schedule_id, detail)

        self.transaction(work)

    def update_webhook_batching(
        self,
        owner: str,
        webhook_id: str,
        *,
        batch_size: int | None,
        batch_window_ms: int | None,
        actor: str,
    ) -> None:
        """Set (or, with ``None``, clear) a webhook's batching (audited).

        Raises:
            NotFoundError: no such webhook in this organization.

        """

        def work(session: Session) -> None:
            row = session.get(WebhookRow, webhook_id)
            if row is None or row.owner != owner:
                raise NotFoundError(f"no webhook {webhook_id!r} in this organization")
            row.batch_size = batch_size
            row.batch_window_ms = batch_window_ms
            detail = {"batch": batch_size, "batch_window_ms": batch_window_ms}
            write_audit(session, owner, actor, "webhook.batching", webhook_id, detail)

        self.transaction(work)

    def webhook_secret_rotated(self, owner: str, webhook_id: str, actor: str) -> None:
        """Audit ``webhook.secret_rotated`` (the secret itself is in the vault's keys)."""
        self.transaction(
            lambda s: write_audit(s, owner, actor, "webhook.secret_rotated", webhook_id, {})
        )
