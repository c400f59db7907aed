"""The workspace's concurrency limits: how many runs of a workflow may run at once.

A limit belongs to one workflow, or (``workflow=None``) is the organization's default
for each workflow without its own. When a workflow's slots are all taken, a new run
waits in line (``queue``, status ``queued`` with its position), is recorded ``skipped``
with reason ``limit`` (``skip``), or the oldest running run is cancelled to make room
(``cancel-oldest``). Enforcement is the worker's and the store's
(:mod:`flowat_kernel.engine.limit_activities`), so it holds across every worker and host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowat_kernel.errors import FlowAtError
from flowat_kernel.store.limit_records import WHEN_FULL

if TYPE_CHECKING:
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.store.limit_records import LimitInfo
    from flowat_kernel.workspace.services import Services

__all__ = ["MAX_LIMIT", "WHEN_FULL", "LimitUseCases", "check_limit"]

#: The largest ``max_concurrent_runs`` accepted.
MAX_LIMIT = 100_000


def check_limit(max_concurrent_runs: object, when_full: object) -> tuple[int, str]:
    """``(max_concurrent_runs, when_full)`` checked, or a usage error saying what to fix."""
    number = max_concurrent_runs
    if isinstance(number, str) and number.strip().isdigit():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_LIMIT:
        raise FlowAtError(
            f"--max-concurrent-runs must be a whole number from 1 to {MAX_LIMIT}, not "
            f"{max_concurrent_runs!r} (to remove a limit: flowat limits clear WORKFLOW)"
        )
    if when_full not in WHEN_FULL:
        raise FlowAtError(f"--when-full must be one of {', '.join(WHEN_FULL)}, not {when_full!r}")
    return number, str(when_full)


class LimitUseCases:
    """Concurrency limits of the workspace's organization (checked like workflows)."""

    services: Services
    principal: Principal

    def set_limit(
        self, workflow: str | None, max_concurrent_runs: int, when_full: str = "queue"
    ) -> LimitInfo:
        """Limit how many runs of ``workflow`` (``None``: each workflow, by default) run at once.

        Args:
            workflow: a published workflow, or ``None`` for the organization's default
                (each workflow without a limit of its own gets it, counted per workflow).
            max_concurrent_runs: at least 1.
            when_full: ``queue`` (wait in line, FIFO), ``skip`` (record the run
                ``skipped``, reason ``limit``) or ``cancel-oldest``.

        Raises:
            Forbidden: the principal may not change workflows.
            NotFoundError: ``workflow`` is not published.
            FlowAtError: a bad number or policy.

        """
        who = self.principal
        who.require("workflows:write", workflow)
        number, policy = check_limit(max_concurrent_runs, when_full)
        store = self.services.store
        if workflow is not None:
            store.get_version(who.owner, workflow)  # NotFoundError names it
        info = store.set_concurrency_limit(who.owner, workflow or "", number, policy, who.user)
        detail = {"max_concurrent_runs": number, "when_full": policy}
        store.add_audit(who.owner, who.user, "limit.set", workflow or "*", detail)
        return info

    def limit(self, workflow: str | None) -> dict[str, Any]:
        """The limit of ``workflow`` (``None``: the organization's default), JSON-ready.

        ``limit`` is the workflow's own, ``organization_default`` the organization's,
        ``effective`` the one that applies; with a workflow also how many of its runs
        hold slots (``running``) and wait for one (``queued``).

        Raises:
            Forbidden: the principal may not read workflows.
            NotFoundError: ``workflow`` is not published.

        """
        who = self.principal
        who.require("workflows:read", workflow)
        store = self.services.store
        org = store.concurrency_limit(who.owner, "")
        shown: dict[str, Any] = {
            "workflow": workflow,
            "organization_default": org.as_dict() if org else None,
        }
        if workflow is None:
            shown["effective"] = shown["organization_default"]
            return shown
        store.get_version(who.owner, workflow)
        own = store.concurrency_limit(who.owner, workflow)
        effective = own or org
        running, waiting = store.limit_usage(who.owner, workflow)
        shown.update(
            limit=own.as_dict() if own else None,
            effective=effective.as_dict() if effective else None,
            running=running,
            queued=waiting,
        )
        return shown

    def clear_limit(self, workflow: str | None) -> bool:
        """Remove the limit of ``workflow`` (``None``: the organization's default).

        Runs waiting for a slot go on at their next check. Whether a limit was set.

        Raises:
            Forbidden: the principal may not change workflows.

        """
        who = self.principal
        who.require("workflows:write", workflow)
        cleared = self.services.store.clear_concurrency_limit(who.owner, workflow or "")
        if cleared:
            self.services.store.add_audit(who.owner, who.user, "limit.cleared", workflow or "*", {})
        return cleared

    def queue_positions(self, run_ids: list[str]) -> dict[str, int]:
        """Where each of ``run_ids`` (of this organization) waits for a slot (1: next)."""
        self.principal.require("runs:read")
        return self.services.store.queue_positions(run_ids, self.principal.owner)
