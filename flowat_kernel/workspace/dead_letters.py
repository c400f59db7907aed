"""The workspace's dead letters: list, show, retry (once, claimed atomically), discard."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.engine.dead_letters import DeadLetter, DeadLetterQueue
    from flowat_kernel.engine.launch import WorkerMode
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

    def _visible_letter(self, letter_id: str) -> DeadLetter:
        """An entry of this organization on a workflow the principal sees.

        Raises:
            NotFoundError: no such entry, or one the principal may not see (never told apart).

        """
        from flowat_kernel.errors import NotFoundError

        self.principal.require("dlq:read")
        letter, _ = self.dead_letters.get(self.principal.owner, letter_id)
        if not self.principal.sees(letter.workflow):
            raise NotFoundError(f"no dead letter {letter_id!r}; `flowat dlq list` shows them")
        return letter

    def dlq_show(self, letter_id: str) -> dict[str, Any]:
        """One entry: its context, error, and its input as shown (masked, large described)."""
        self._visible_letter(letter_id)
        return self.dead_letters.show(self.principal.owner, letter_id)

    def dlq_retry(self, letter_id: str, *, wait: bool = True, worker: WorkerMode = "auto") -> Run:
        """Re-drive an entry once: re-run its run from the failed step on the latest version.

        Started as ``flowat run`` starts runs (``worker="auto"``: in this process unless
        ``FLOWAT_RUN_ON=shared``; ``shared``: the worker processes, one here if none
        polls). The entry is claimed first (status ``retrying``, atomically, so of two
        concurrent retries one starts a re-run) and marked ``retried`` only once its
        re-run has started; when the start fails it is parked again.

        Raises:
            NotFoundError: no such entry.
            Conflict: the entry was retried or discarded already, or is being retried.

        """
        who = self.principal
        letter = self._visible_letter(letter_id)
        who.require("runs:write", letter.workflow)
        queue = self.dead_letters
        token = queue.claim(who.owner, letter_id)
        try:
            run: Run = self.rerun(  # type: ignore[attr-defined]
                letter.run_id, version="latest", wait=False, worker=worker
            )
        except BaseException:
            queue.settle(letter_id, token, None)
            raise
        queue.settle(letter_id, token, run.run_id)
        if wait:
            finished: Run = self.wait(run.run_id, worker=worker)  # type: ignore[attr-defined]
            return finished
        return run

    def dlq_discard(self, letter_id: str) -> None:
        """Discard an entry (it stays listed with ``status=None``).

        Raises:
            NotFoundError: no such entry.
            FlowAtError: it was retried or discarded already, or is being retried.

        """
        who = self.principal
        letter = self._visible_letter(letter_id)
        who.require("runs:write", letter.workflow)
        self.dead_letters.resolve(who.owner, letter_id, "discarded")
