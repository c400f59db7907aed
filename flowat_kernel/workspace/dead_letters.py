"""The workspace's dead letters: list, show, retry (once), discard."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.engine.dead_letters import DeadLetter, DeadLetterQueue
    from flowat_kernel.run_result import Run
    from flowat_kernel.workspace.services import Services

__all__ = ["DeadLetterUseCases"]


class DeadLetterUseCases:
    """Parked steps of the workspace's organization."""

    services: Services
    principal: Principal

    @property
    def dead_letters(self) -> DeadLetterQueue:
        """The queue over this workspace's store and vault."""
        from flowat_kernel.engine.dead_letters import DeadLetterQueue

        return DeadLetterQueue(self.services.store, self.services.vault)

    def dlq_list(self, status: str | None = "parked", limit: int = 50) -> list[DeadLetter]:
        """Parked steps (or all, with ``status=None``), newest first."""
        self.principal.require("dlq:read")
        found = self.dead_letters.list(self.principal.owner, status, limit)
        return [letter for letter in found if self.principal.sees(letter.workflow)]

    def dlq_show(self, letter_id: str) -> dict[str, Any]:
        """One entry: its context, error, and its input as shown (masked, large described)."""
        self.principal.require("dlq:read")
        shown = self.dead_letters.show(self.principal.owner, letter_id)
        self.principal.require("dlq:read", shown["workflow"])
        return shown

    def dlq_retry(self, letter_id: str, *, wait: bool = True) -> Run:
        """Re-drive an entry once: re-run its run from the failed step on the latest version.

        The entry is claimed before the re-run starts, so two retries cause one re-run.

        Raises:
            FlowAtError: the entry was retried or discarded already.

        """
        who = self.principal
        queue = self.dead_letters
        letter, _ = queue.get(who.owner, letter_id)
        who.require("runs:write", letter.workflow)
        claim = f"pending-{uuid.uuid4().hex[:8]}"
        queue.resolve(who.owner, letter_id, "retried", claim)  # claim first: one re-drive
        run = self.rerun(letter.run_id, version="latest", wait=False)  # type: ignore[attr-defined]
        queue.redriven(letter_id, run.run_id)
        if wait:
            finished: Run = self.wait(run.run_id)  # type: ignore[attr-defined]
            return finished
        started: Run = run
        return started

    def dlq_discard(self, letter_id: str) -> None:
        """Discard an entry (it stays listed with ``status=None``)."""
        who = self.principal
        letter, _ = self.dead_letters.get(who.owner, letter_id)
        who.require("runs:write", letter.workflow)
        self.dead_letters.resolve(who.owner, letter_id, "discarded")
