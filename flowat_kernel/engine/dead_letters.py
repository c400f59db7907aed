"""The dead-letter queue: steps that exhausted their retries, parked to inspect and re-drive.

When a run fails because a step failed for good, the step's exact input (sealed with
the vault's payload key, since it may hold secrets), its error and its context (run,
workflow, version) are parked. ``flowat dlq list | show | retry | discard`` and
``%flowat dlq`` work on them through the workspace. A retry re-runs the failed run from
that step, on the latest version (after a fix, say), reusing the outputs of the steps
that succeeded; it happens once per entry, so it causes one new downstream effect.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.common.v1 import Payload

from flowat_kernel.engine.messages import StepTask
from flowat_kernel.engine.values import describe
from flowat_kernel.errors import FlowAtError
from flowat_kernel.store import Store
from flowat_kernel.store.dead_letter_records import DeadLetter
from flowat_kernel.vault.codec import VaultPayloadCodec
from flowat_kernel.vault.redaction import redact_data
from flowat_kernel.vault.vault import Vault

__all__ = ["CLAIM_SECONDS", "DeadLetter", "DeadLetterQueue"]

#: How long a retry's claim on an entry holds when its process never settles it (it
#: died between claiming and starting the re-run); then another retry may take it over.
CLAIM_SECONDS = 600.0


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
        self.store.park_dead_letter(
            letter_id,
            owner=task.owner or "",
            run_id=task.run_id,
            workflow=task.workflow,
            version=task.version,
            step=task.step.name,
            sealed_task=sealed,
            error={k: v for k, v in redact_data(error).items() if k != "traceback"},
        )
        return letter_id

    def list(self, owner: str, status: str | None = "parked", limit: int = 50) -> list[DeadLetter]:
        """Dead letters, newest first (``status=None``: all)."""
        return self.store.list_dead_letters(owner, status, limit)

    def get(self, owner: str, letter_id: str) -> tuple[DeadLetter, StepTask]:
        """One dead letter with its unsealed step input.

        Raises:
            NotFoundError: no such entry.

        """
        letter, sealed = self.store.get_dead_letter(owner, letter_id)
        payload = Payload()
        payload.ParseFromString(sealed)
        task = StepTask.model_validate_json(self.codec.decode_sync([payload])[0].data)
        return letter, task

    def show(self, owner: str, letter_id: str) -> dict[str, Any]:
        """One entry: context, error, and its input as shown (masked, large values described)."""
        letter, task = self.get(owner, letter_id)
        return {
            **letter.as_dict(),
            "inputs": redact_data({name: describe(value) for name, value in task.inputs.items()}),
        }

    def resolve(self, owner: str, letter_id: str, status: str, run_id: str | None = None) -> None:
        """Mark a parked entry retried or discarded, exactly once.

        Raises:
            NotFoundError: no such entry.
            FlowAtError: it was retried or discarded already.

        """
        if not self.store.resolve_dead_letter(owner, letter_id, status, run_id):
            letter, _ = self.get(owner, letter_id)
            done = f" as run {letter.redrive_run_id}" if letter.redrive_run_id else ""
            raise FlowAtError(f"dead letter {letter_id} was {letter.status} already{done}")

    def claim(self, owner: str, letter_id: str) -> str:
        """Take a parked entry for one retry (status ``retrying``); the claim's token.

        Atomic: of concurrent retries of one entry, one gets the claim.

        Raises:
            NotFoundError: no such entry.
            Conflict: it was retried or discarded already, or another retry holds it.

        """
        from flowat_kernel.access.errors import Conflict

        token = f"claim-{uuid.uuid4().hex[:16]}"
        stale = datetime.now(UTC) - timedelta(seconds=CLAIM_SECONDS)
        if self.store.claim_dead_letter(owner, letter_id, token, stale):
            return token
        letter, _ = self.get(owner, letter_id)
        if letter.status == "retrying":
            raise Conflict(f"dead letter {letter_id} is being retried now; try again later")
        done = f" as run {letter.redrive_run_id}" if letter.redrive_run_id else ""
        raise Conflict(f"dead letter {letter_id} was {letter.status} already{done}")

    def settle(self, letter_id: str, token: str, run_id: str | None) -> None:
        """Settle a retry's claim: ``retried`` as ``run_id``, or parked again.

        ``run_id`` is the re-run once it has started; ``None`` when it could not start.
        """
        self.store.settle_dead_letter_claim(letter_id, token, run_id)

    def redriven(self, letter_id: str, run_id: str) -> None:
        """Record the run that re-drove an entry."""
        self.store.set_dead_letter_redrive(letter_id, run_id)
