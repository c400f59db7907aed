"""The dead-letter queue: steps that exhausted their retries, parked to inspect and re-drive.

When a run fails because a step failed for good, the step's exact input (sealed with
the vault's payload key, since it may hold secrets), its error and its context (run,
workflow, version) are parked. ``flowat dlq list | show | retry | discard`` and
``%flowat dlq`` work on them. A retry re-runs the failed run from that step, on the
latest version (after a fix, say), reusing the outputs of the steps that succeeded; it
happens once per entry, so it causes one new downstream effect.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from temporalio.api.common.v1 import Payload

from flowat_kernel.engine.messages import StepTask
from flowat_kernel.engine.values import describe
from flowat_kernel.errors import FlowAtError, NotFoundError
from flowat_kernel.runtime import get_runtime
from flowat_kernel.store import Store
from flowat_kernel.store.repository import aware, utcnow
from flowat_kernel.store.tables import DeadLetterRow
from flowat_kernel.vault.codec import VaultPayloadCodec
from flowat_kernel.vault.redaction import redact_data
from flowat_kernel.vault.vault import Vault

__all__ = ["DeadLetter", "DeadLetterQueue", "dlq_discard", "dlq_list", "dlq_retry", "dlq_show"]


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


class DeadLetterQueue:
    """Dead letters of one metadata store, sealed with one vault's payload keys."""

    def __init__(self, store: Store, vault: Vault) -> None:
        self.store = store
        self.codec = VaultPayloadCodec(vault.payload_keys)

    def park(self, task: StepTask, error: dict[str, Any]) -> str:
        """Park a failed step's input and error (once per run and step); return the id."""
        sealed = self.codec.encode_sync(
            [Payload(metadata={"encoding": b"json/plain"}, data=task.model_dump_json().encode())]
        )[0].SerializeToString()
        letter_id = uuid.uuid5(uuid.NAMESPACE_URL, f"flowat-dlq:{task.run_id}/{task.step.name}").hex

        def work(session: Any) -> None:
            if session.get(DeadLetterRow, letter_id) is not None:
                return  # recorded already (a retried bookkeeping activity)
            session.add(
                DeadLetterRow(
                    id=letter_id,
                    owner=task.owner or "",
                    run_id=task.run_id,
                    workflow=task.workflow,
                    version=task.version,
                    step=task.step.name,
                    sealed_task=sealed,
                    error={k: v for k, v in redact_data(error).items() if k != "traceback"},
                    status="parked",
                    created_at=utcnow(),
                )
            )

        self.store.transaction(work)
        return letter_id

    def list(self, owner: str, status: str | None = "parked", limit: int = 50) -> list[DeadLetter]:
        """Dead letters, newest first (``status=None``: all)."""
        query = select(DeadLetterRow).where(DeadLetterRow.owner == owner)
        if status is not None:
            query = query.where(DeadLetterRow.status == status)
        query = query.order_by(DeadLetterRow.created_at.desc()).limit(limit)
        return self.store.transaction(lambda s: [_letter(r) for r in s.scalars(query)])

    def get(self, owner: str, letter_id: str) -> tuple[DeadLetter, StepTask]:
        """One dead letter with its unsealed step input.

        Raises:
            NotFoundError: no such entry.

        """

        def work(session: Any) -> tuple[DeadLetter, bytes]:
            row = session.get(DeadLetterRow, letter_id)
            if row is None or row.owner != owner:
                raise NotFoundError(f"no dead letter {letter_id!r}; `flowat dlq list` shows them")
            return _letter(row), bytes(row.sealed_task)

        letter, sealed = self.store.transaction(work)
        payload = Payload()
        payload.ParseFromString(sealed)
        task = StepTask.model_validate_json(self.codec.decode_sync([payload])[0].data)
        return letter, task

    def resolve(self, owner: str, letter_id: str, status: str, run_id: str | None = None) -> None:
        """Mark a parked entry retried or discarded, exactly once.

        Raises:
            NotFoundError: no such entry.
            FlowAtError: it was retried or discarded already.

        """

        def work(session: Any) -> int:
            return int(
                session.execute(
                    update(DeadLetterRow)
                    .where(
                        DeadLetterRow.id == letter_id,
                        DeadLetterRow.owner == owner,
                        DeadLetterRow.status == "parked",
                    )
                    .values(status=status, resolved_at=utcnow(), redrive_run_id=run_id)
                ).rowcount
            )

        if self.store.transaction(work) == 0:
            letter, _ = self.get(owner, letter_id)
            done = f" as run {letter.redrive_run_id}" if letter.redrive_run_id else ""
            raise FlowAtError(f"dead letter {letter_id} was {letter.status} already{done}")


def _queue() -> tuple[DeadLetterQueue, str]:
    runtime = get_runtime()
    return DeadLetterQueue(runtime.store, runtime.vault), runtime.settings.owner


def dlq_list(status: str | None = "parked", limit: int = 50) -> list[DeadLetter]:
    """Parked steps (or all, with ``status=None``), newest first."""
    queue, owner = _queue()
    return queue.list(owner, status, limit)


def dlq_show(letter_id: str) -> dict[str, Any]:
    """One entry: its context, error, and its input as shown (masked, large values described)."""
    queue, owner = _queue()
    letter, task = queue.get(owner, letter_id)
    return {
        **letter.as_dict(),
        "inputs": redact_data({name: describe(value) for name, value in task.inputs.items()}),
    }


def dlq_retry(letter_id: str, *, wait: bool = True) -> Any:
    """Re-drive an entry once: re-run its run from the failed step on the latest version.

    Returns the new :class:`~flowat_kernel.run_result.Run`.

    Raises:
        FlowAtError: the entry was retried or discarded already.

    """
    from flowat_kernel.api import rerun

    queue, owner = _queue()
    letter, _ = queue.get(owner, letter_id)
    claim = f"pending-{uuid.uuid4().hex[:8]}"
    queue.resolve(owner, letter_id, "retried", claim)  # claim it first: only one re-drive
    run = rerun(letter.run_id, version="latest", wait=False)
    queue.store.transaction(
        lambda s: s.execute(
            update(DeadLetterRow)
            .where(DeadLetterRow.id == letter_id)
            .values(redrive_run_id=run.run_id)
        )
    )
    if wait:
        from flowat_kernel.api import wait as wait_for

        return wait_for(run.run_id)
    return run


def dlq_discard(letter_id: str) -> None:
    """Discard an entry (it stays listed with ``status=None``)."""
    queue, owner = _queue()
    queue.resolve(owner, letter_id, "discarded")
