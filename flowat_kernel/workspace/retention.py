"""The workspace's deletion and retention: delete runs and workflows, keep runs for a while.

Deleting a run removes it everywhere it left something: its Temporal execution, its
run and step records (logs and outputs), dead letters and alert deliveries, its
artifacts and its analytics events; the audit log keeps who deleted it, when, and what
it was (:mod:`flowat_kernel.engine.deletion`). Deleting runs and workflows takes the
permissions that changing them takes (``runs:write``, ``workflows:write``: Editor and
above). A retention policy keeps a workflow's finished runs for some days and/or the
newest few; a workflow's own policy takes an Editor, the organization's default an
Administrator or Owner (``retention:write``). The worker applies them periodically.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from flowat_kernel.errors import FlowAtError, NotFoundError

if TYPE_CHECKING:
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.engine.deletion import DeletionReport
    from flowat_kernel.store import RunRecord
    from flowat_kernel.store.retention_records import RetentionPolicy
    from flowat_kernel.triggers.schedules import Schedules
    from flowat_kernel.triggers.webhooks import Webhooks
    from flowat_kernel.workspace.services import Services

__all__ = ["RetentionUseCases", "check_limit"]


def check_limit(name: str, value: object) -> int | None:
    """A retention limit: ``None`` or a whole number of at least 1.

    Raises:
        FlowAtError: anything else, saying what to give.

    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FlowAtError(f"--{name} must be a whole number of at least 1, not {value!r}")
    return value


class RetentionUseCases:
    """Deleting runs and workflows; the organization's retention policies."""

    services: Services
    principal: Principal

    if TYPE_CHECKING:  # provided by the Workspace and its other mixins

        @property
        def owner(self) -> str:
            """The organization the workspace acts in."""
            ...

        @property
        def _actor(self) -> str: ...

        @property
        def schedules(self) -> Schedules:
            """The schedule registry."""
            ...

        @property
        def webhooks(self) -> Webhooks:
            """The webhook registry."""
            ...

        def record(self, run_id: str) -> RunRecord:
            """A visible run's record, by its full or short id."""
            ...

    # -- deleting -----------------------------------------------------------------------

    def delete_runs(self, run_ids: Sequence[str], *, force: bool = False) -> DeletionReport:
        """Delete runs (full ids, or unique prefixes of 8 or more characters).

        Every run is checked before any is deleted: one that is missing, of another
        organization or not visible to the credential is "no run" (never told apart);
        one still queued or running is refused unless ``force``, which terminates it.

        Raises:
            NotFoundError: no such run here.
            Forbidden: the principal may not change runs of its workflow.
            Conflict: a run is still active and ``force`` is not set.
            TemporalUnavailable: Temporal cannot be reached (nothing was deleted).

        """
        from flowat_kernel.access.errors import Conflict
        from flowat_kernel.engine.deletion import delete_runs

        if isinstance(run_ids, str):
            run_ids = [run_ids]
        if not run_ids:
            raise FlowAtError("give at least one run id to delete")
        self.principal.require("runs:write")
        chosen: dict[str, RunRecord] = {}
        for run_id in run_ids:
            record = self.record(str(run_id))
            self.principal.require("runs:write", record.workflow)
            if not record.finished and not force:
                raise Conflict(
                    f"run {record.run_id} is still {record.status}; cancel it first "
                    "(flowat cancel RUN_ID), or delete it with --force, which terminates it"
                )
            chosen[record.run_id] = record
        refs = self.services.store.run_refs(list(chosen))
        return delete_runs(self.services, refs, self._actor)

    def delete_workflow(self, workflow: str, *, force: bool = False) -> dict[str, object]:
        """Delete a workflow: every version, run, schedule, webhook, alert and limit of it.

        Refused while runs of it are queued or running, unless ``force``: then they are
        cancelled first (and terminated by the deletion if still running).

        Raises:
            NotFoundError: no such workflow here (or not visible to the credential).
            Forbidden: the principal may not change workflows.
            Conflict: runs are active and ``force`` is not set.

        """
        from flowat_kernel.access.audit import record_now
        from flowat_kernel.access.errors import Conflict
        from flowat_kernel.engine.deletion import delete_runs
        from flowat_kernel.store.records import FINISHED

        who = self.principal
        who.require("workflows:write", workflow)
        who.require("runs:write", workflow)
        store = self.services.store
        if not who.sees(workflow):
            raise NotFoundError(f"no workflow named {workflow!r} visible to this key")
        versions = store.list_versions(self.owner, workflow)  # NotFoundError names it
        refs = store.workflow_run_refs(self.owner, workflow)
        active = [r for r in refs if r.status not in FINISHED]
        if active and not force:
            shown = ", ".join(r.run_id[:12] for r in active[:5])
            raise Conflict(
                f"workflow {workflow!r} has {len(active)} active runs ({shown}); wait for "
                "them, cancel them, or delete with --force, which cancels them first"
            )
        schedules = [s for s in self.schedules.list(self.owner) if s.workflow == workflow]
        hooks = [h for h in self.webhooks.list(self.owner) if h.workflow == workflow]
        if schedules:  # every permission is checked before anything is changed
            who.require("schedules:write", workflow)
        if hooks:
            who.require("webhooks:write", workflow)
        if active:
            self._cancel_quietly([r.run_id for r in active])
        for schedule in schedules:
            self.schedules.delete(who, schedule.id)
        for hook in hooks:
            self.webhooks.delete(who, hook.id)
        report = delete_runs(self.services, refs, self._actor)
        if report.kept:
            raise FlowAtError(
                f"Temporal refused to delete the executions of {len(report.kept)} runs of "
                f"{workflow!r} ({', '.join(report.kept[:5])}); the workflow is kept: try again"
            )
        store.clear_concurrency_limit(self.owner, workflow)
        store.delete_workflow_records(self.owner, workflow)
        summary: dict[str, object] = {
            "workflow": workflow,
            "versions": len(versions),
            "runs": report.runs,
            "cancelled": len(active),
            "schedules": len(schedules),
            "webhooks": len(hooks),
            "artifacts": report.artifacts,
            "events": report.events,
        }
        record_now(store, self.owner, self._actor, "workflow.deleted", workflow, summary)
        return summary

    def _cancel_quietly(self, run_ids: Sequence[str]) -> None:
        """Ask Temporal to cancel runs; one that ended or vanished meanwhile is fine."""
        from flowat_kernel.access.audit import record_now
        from flowat_kernel.engine.control import cancel_run

        for run_id in run_ids:
            try:
                self.services.call(cancel_run(self.services, run_id))
            except (FlowAtError, NotFoundError):
                continue
            record_now(
                self.services.store,
                self.owner,
                self._actor,
                "run.cancelled",
                run_id,
                {"run_id": run_id, "reason": "workflow deleted"},
            )

    # -- retention ----------------------------------------------------------------------

    def _require_policy_change(self, workflow: str | None) -> None:
        if workflow is None:
            self.principal.require("retention:write")
        else:
            self.principal.require("workflows:write", workflow)
            if not self.principal.sees(workflow):
                raise NotFoundError(f"no workflow named {workflow!r} visible to this key")
            self.services.store.get_version(self.owner, workflow)  # NotFoundError names it

    def set_retention(
        self, workflow: str | None, *, days: int | None = None, keep: int | None = None
    ) -> RetentionPolicy:
        """Keep ``workflow``'s finished runs (``None``: each workflow's, by default) so long.

        A finished run expires when it is older than ``days`` days or when it is not
        among the newest ``keep`` finished runs of its workflow. Queued and running runs
        never expire. A workflow's own policy replaces the organization's default.

        Raises:
            Forbidden: an organization's policy needs an Administrator or Owner, a
                workflow's an Editor.
            NotFoundError: no such workflow.
            FlowAtError: neither limit given, or one that is not a whole number >= 1.

        """
        days = check_limit("days", days)
        keep = check_limit("keep", keep)
        if days is None and keep is None:
            raise FlowAtError(
                "give --days N (keep runs N days) and/or --keep N (keep the newest N runs)"
            )
        self._require_policy_change(workflow)
        return self.services.store.set_retention(self.owner, workflow, days, keep, self._actor)

    def retention(self, workflow: str | None = None) -> list[RetentionPolicy]:
        """The organization's policies (with ``workflow``: its own and the default)."""
        self.principal.require("workflows:read")
        found = self.services.store.retention_policies(self.owner)
        visible = [p for p in found if p.workflow is None or self.principal.sees(p.workflow)]
        if workflow is not None:
            visible = [p for p in visible if p.workflow in (None, workflow)]
        return visible

    def clear_retention(self, workflow: str | None) -> RetentionPolicy:
        """Remove the policy of ``workflow`` (``None``: the organization's default).

        Raises:
            Forbidden: as for :meth:`set_retention`.
            NotFoundError: there is no such policy.

        """
        if workflow is None:
            self.principal.require("retention:write")
        else:
            self.principal.require("workflows:write", workflow)
        return self.services.store.clear_retention(self.owner, workflow)

    def apply_retention(self) -> DeletionReport:
        """Apply this organization's policies now (the worker also does, periodically).

        Raises:
            Forbidden: only an Administrator or Owner applies them on demand.

        """
        from flowat_kernel.engine.deletion import retention_pass

        self.principal.require("retention:write")
        return retention_pass(self.services, owner=self.owner)
