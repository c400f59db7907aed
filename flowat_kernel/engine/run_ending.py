"""How a graph workflow's run ends: its end recorded, its slot's waiters woken, its alerts.

:class:`RunEnding` is the part of :class:`~flowat_kernel.engine.workflow.GraphWorkflow`
that closes a run: what the end records (:meth:`RunEnding._finish`), whether the run's
final step records it itself (``PATCH_END_IN_STEP``, see
:mod:`~flowat_kernel.engine.run_bookkeeping`), and otherwise ``flowat.run_end`` (or,
for runs started before ``PATCH_FOLDED``, the separate activities they asked). Like the
rest of the workflow it is deterministic.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from flowat_kernel.engine.step_runner import BOOKKEEPING, BOOKKEEPING_RETRY, StepRunner

with workflow.unsafe.imports_passed_through():
    from flowat_kernel.engine.agent_messages import AGENT_ACTION
    from flowat_kernel.engine.alert_activities import (
        ALERT_RETRY,
        ALERT_TIMEOUT,
        ALERTS_DUE,
        EVENTS,
        PATCH_ALERTS,
        SEND_ALERTS,
        AlertBatch,
        AlertsDue,
    )
    from flowat_kernel.engine.limit_activities import ADMIT_SIGNAL, RELEASED
    from flowat_kernel.engine.messages import RunFinish, RunInput
    from flowat_kernel.engine.run_bookkeeping import END, PATCH_END_IN_STEP, RunEnd, RunEnded
    from flowat_kernel.engine.values import Value
    from flowat_kernel.spec import StepSpec

__all__ = ["RunEnding", "tell"]


async def tell(workflow_id: str, signal: str | None) -> None:
    """Signal another run's workflow (``None``: cancel it); one that has closed is fine."""
    handle = workflow.get_external_workflow_handle(workflow_id)
    try:
        if signal is None:
            await handle.cancel()
        else:
            await handle.signal(signal)
    except ApplicationError as exc:  # it ended meanwhile: nothing to wake or cancel
        workflow.logger.debug("run workflow %s not told: %s", workflow_id, exc)


class RunEnding(StepRunner):
    """Ends a run; the workflow's state lives on the subclass."""

    _results: dict[str, dict[str, Value]]
    _limited: bool  # this run holds a concurrency slot
    _folded: bool  # bookkeeping through run_begin / run_end (PATCH_FOLDED)
    _ended: RunEnded | None  # the end the run's final step recorded

    def _ends_run(self, step: StepSpec, after_skipped: bool) -> bool:
        """Whether ``step``, the run's last, records the run's end when it succeeds.

        It must be one local activity whose outcome is the step's (see
        :mod:`~flowat_kernel.engine.run_bookkeeping`); the patch marker is written only
        for such a step. A local activity's result reaches Temporal in the same workflow
        task as ``flowat.run_end``'s did, so the store has the end no sooner, relative to
        the workflow closing, than before; a regular activity's would need another
        workflow task after it.
        """
        return (
            self._folded
            and step.local
            and self._plain(step, after_skipped)
            and step.kind != "workflow"
            and not (step.kind == "action" and step.action == AGENT_ACTION)
            and workflow.patched(PATCH_END_IN_STEP)
        )

    def _end_if_succeeded(self, run: RunInput, step: str) -> RunEnd:
        """The run's end as it is when its final ``step`` succeeds (its exports added then)."""
        finish = self._finish(run, "succeeded")
        finish = finish.model_copy(update={"states": {**finish.states, step: "succeeded"}})
        return RunEnd(finish=finish, limited=self._limited, event=EVENTS.get("succeeded"))

    async def _close(self, run: RunInput, finish: RunFinish) -> None:
        """Record the run's end, wake the runs waiting for its slot, deliver its alerts.

        A succeeded run whose final step recorded the end asks no activity for it.
        """
        if not self._folded:  # as runs started before PATCH_FOLDED did
            await self._record("flowat.run_finished", finish)
            await self._release(run)
            await self._alert(run, finish.status)
            return
        ended = self._ended if finish.status == "succeeded" else None
        if ended is None or not ended.complete:
            ended = await workflow.execute_local_activity(
                END,
                RunEnd(
                    finish=finish,
                    limited=self._limited,
                    event=EVENTS.get(finish.status),
                    recorded=ended is not None,
                ),
                result_type=RunEnded,
                start_to_close_timeout=BOOKKEEPING,
                retry_policy=BOOKKEEPING_RETRY,
            )
        self._limited = False
        if ended.woken:
            await asyncio.gather(*(tell(w, ADMIT_SIGNAL) for w in ended.woken))
        if ended.deliveries:
            await self._send_alerts(run, EVENTS[finish.status], ended.deliveries)

    async def _release(self, run: RunInput) -> None:
        """Wake the runs waiting for the slot this run held, once its end is recorded."""
        if not self._limited:
            return
        self._limited = False
        woken = await workflow.execute_local_activity(
            RELEASED,
            run.run_id,
            result_type=list[str],
            start_to_close_timeout=BOOKKEEPING,
            retry_policy=BOOKKEEPING_RETRY,
        )
        if woken:
            await asyncio.gather(*(tell(w, ADMIT_SIGNAL) for w in woken))

    async def _alert(self, run: RunInput, status: str) -> None:
        """Deliver the alerts the run's end sets off, once that end is recorded.

        See :mod:`~flowat_kernel.engine.alert_activities`. Guarded by :data:`PATCH_ALERTS`;
        an alert that stays undelivered is recorded failed, and the run's outcome stands.
        """
        event = EVENTS.get(status)
        if event is None or not workflow.patched(PATCH_ALERTS):
            return
        due = await workflow.execute_local_activity(
            ALERTS_DUE,
            AlertsDue(run_id=run.run_id, event=event),
            result_type=list[str],
            start_to_close_timeout=BOOKKEEPING,
            retry_policy=BOOKKEEPING_RETRY,
        )
        if due:
            await self._send_alerts(run, event, due)

    async def _send_alerts(self, run: RunInput, event: str, due: list[str]) -> None:
        """Send the alert deliveries ``due``; one that stays undelivered is only logged."""
        try:
            await workflow.execute_activity(
                SEND_ALERTS,
                AlertBatch(run_id=run.run_id, event=event, deliveries=due),
                start_to_close_timeout=ALERT_TIMEOUT,
                retry_policy=ALERT_RETRY,
            )
        except ActivityError:
            workflow.logger.warning("alerts of run %s not all delivered", run.run_id)

    def _finish(
        self,
        run: RunInput,
        status: str,
        error: dict[str, Any] | None = None,
        failed_step: str | None = None,
    ) -> RunFinish:
        """What ``flowat.run_finished`` records, including every step's final state."""
        return RunFinish(
            run_id=run.run_id,
            status=status,
            error=error,
            failed_step=failed_step,
            states=dict(self._states),
            outputs=dict(self._results),
            owner=run.owner,
            failed_task=self._tasks.get(failed_step) if failed_step else None,
        )
