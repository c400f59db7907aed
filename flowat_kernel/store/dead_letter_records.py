"""Dead-letter rows: parked steps, their sealed input, and whether they were re-driven."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from flowat_kernel.errors import NotFoundError
from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.tables import DeadLetterRow

__all__ = ["DeadLetter", "DeadLetterRecords"]

T = TypeVar("T")


@dataclass(frozen=True)
class DeadLetter:
    """One parked step (metadata and error; the input stays sealed until shown)."""

    id: str
    run_id: str
    workflow: str
    version: int
    step: str
    error: dict[str, Any]
    status: str
    created_at: datetime
    resolved_at: datetime | None
    redrive_run_id: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "id": self.id,
            "run_id": self.run_id,
            "workflow": self.workflow,
            "version": self.version,
            "step": self.step,
            "error": self.error,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "redrive_run_id": self.redrive_run_id,
        }


def _letter(row: DeadLetterRow) -> DeadLetter:
    return DeadLetter(
        id=row.id,
        run_id=row.run_id,
        workflow=row.workflow,
        version=row.version,
        step=row.step,
        error=dict(row.error),
        status=row.status,
        created_at=aware(row.created_at) or row.created_at,
        resolved_at=aware(row.resolved_at),
        redrive_run_id=row.redrive_run_id,
    )


class DeadLetterRecords:
    """The store's dead-letter methods (mixed into :class:`~flowat_kernel.store.Store`)."""

    def transaction(self, work: Callable[[Session], T], retry_conflicts: bool = False) -> T:
        """Provided by the store."""
        raise NotImplementedError

    def park_dead_letter(
        self,
        letter_id: str,
        *,
        owner: str,
        run_id: str,
        workflow: str,
        version: int,
        step: str,
        sealed_task: bytes,
        error: dict[str, Any],
    ) -> None:
        """Record a parked step once (a second call with the same id changes nothing)."""

        def work(session: Session) -> None:
            if session.get(DeadLetterRow, letter_id) is not None:
                return  # recorded already (a retried bookkeeping activity)
            session.add(
                DeadLetterRow(
                    id=letter_id,
                    owner=owner,
                    run_id=run_id,
                    workflow=workflow,
                    version=version,
                    step=step,
                    sealed_task=sealed_task,
                    error=error,
                    status="parked",
                    created_at=utcnow(),
                )
            )

        self.transaction(work)

    def list_dead_letters(
        self, owner: str, status: str | None = "parked", limit: int = 50
    ) -> list[DeadLetter]:
        """The organization's dead letters, newest first (``status=None``: all)."""
        query = select(DeadLetterRow).where(DeadLetterRow.owner == owner)
        if status is not None:
            query = query.where(DeadLetterRow.status == status)
        query = query.order_by(DeadLetterRow.created_at.desc()).limit(limit)
        return self.transaction(lambda s: [_letter(r) for r in s.scalars(query)])

    def get_dead_letter(self, owner: str, letter_id: str) -> tuple[DeadLetter, bytes]:
        """One dead letter of the organization with its sealed step input.

        Raises:
            NotFoundError: no such entry in this organization.

        """

        def work(session: Session) -> tuple[DeadLetter, bytes]:
            row = session.get(DeadLetterRow, letter_id)
            if row is None or row.owner != owner:
                raise NotFoundError(f"no dead letter {letter_id!r}; `flowat dlq list` shows them")
            return _letter(row), bytes(row.sealed_task)

        return self.transaction(work)

    def resolve_dead_letter(
        self, owner: str, letter_id: str, status: str, run_id: str | None = None
    ) -> bool:
        """Mark a parked entry ``status``; False when it was not parked (any more)."""

        def work(session: Session) -> int:
            return int(
                session.execute(  # type: ignore[attr-defined]
                    update(DeadLetterRow)
                    .where(
                        DeadLetterRow.id == letter_id,
                        DeadLetterRow.owner == owner,
                        DeadLetterRow.status == "parked",
                    )
                    .values(status=status, resolved_at=utcnow(), redrive_run_id=run_id)
                ).rowcount
            )

        return self.transaction(work) > 0

    def claim_dead_letter(
        self, owner: str, letter_id: str, claim: str, stale_before: datetime
    ) -> bool:
        """Take a parked entry for a retry (status ``retrying``), atomically; False if taken.

        One conditional UPDATE, so of two concurrent claims exactly one succeeds. A
        claim older than ``stale_before`` (its process died before settling it) may be
        taken over.
        """

        def work(session: Session) -> int:
            taken = (DeadLetterRow.status == "parked") | (
                (DeadLetterRow.status == "retrying") & (DeadLetterRow.resolved_at < stale_before)
            )
            return int(
                session.execute(  # type: ignore[attr-defined]
                    update(DeadLetterRow)
                    .where(DeadLetterRow.id == letter_id, DeadLetterRow.owner == owner, taken)
                    .values(status="retrying", resolved_at=utcnow(), redrive_run_id=claim)
                ).rowcount
            )

        return self.transaction(work) > 0

    def settle_dead_letter_claim(self, letter_id: str, claim: str, run_id: str | None) -> bool:
        """End a retry's claim: ``retried`` as ``run_id`` once it started, else parked again.

        Only the holder of ``claim`` settles it; False when the claim is not held (any more).
        """
        values: dict[str, Any] = (
            {"status": "retried", "resolved_at": utcnow(), "redrive_run_id": run_id}
            if run_id is not None
            else {"status": "parked", "resolved_at": None, "redrive_run_id": None}
        )

        def work(session: Session) -> int:
            return int(
                session.execute(  # type: ignore[attr-defined]
                    update(DeadLetterRow)
                    .where(
                        DeadLetterRow.id == letter_id,
                        DeadLetterRow.status == "retrying",
                        DeadLetterRow.redrive_run_id == claim,
                    )
                    .values(**values)
                ).rowcount
            )

        return self.transaction(work) > 0

    def set_dead_letter_redrive(self, letter_id: str, run_id: str) -> None:
        """Record the run that re-drove an entry."""
        self.transaction(
            lambda s: s.execute(
                update(DeadLetterRow)
                .where(DeadLetterRow.id == letter_id)
                .values(redrive_run_id=run_id)
            )
        )
