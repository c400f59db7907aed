"""A run's bookkeeping in two local activities: ``flowat.run_begin`` and ``flowat.run_end``.

The graph workflow used to spend four local activities per run on bookkeeping, each a
workflow activation of its own: asking for a concurrency slot (``flowat.run_admit``),
loading the spec (``flowat.run_loaded``), recording the end (``flowat.run_finished``),
and looking for alerts (``flowat.alerts_due``), plus ``flowat.run_released`` for a
limited run. Runs started since :data:`PATCH_FOLDED` ask two:

- ``flowat.run_begin``: admission and, when the run may start (no limit, or a slot is
  free), the verified spec and the run marked running, in one activity. A workflow with
  no limit pays one read of its limits here and nothing else. A run that must wait
  (``queued``) or ends at admission (``skipped``, ``ended``) gets no spec; it goes on
  through the admission loop and ``flowat.run_loaded`` as before.
- ``flowat.run_end``: the run's end in one store transaction (steps reconciled, the
  failed step marked, the run finished), then the waiters to wake when the run held a
  slot, and the alert deliveries its end sets off, returned together.

Since :data:`PATCH_END_IN_STEP`, a run whose final step is a ``--local`` one (nothing
else pending or running, no failure so far, not a sub-workflow, agent, ``--foreach``,
``--when`` or mapped step) hands that step's task the end as it will be
if the step succeeds (:class:`~flowat_kernel.engine.messages.RunEnd`). The step's
activity then records it right after the step's own record (:func:`end_run`, the same
as ``flowat.run_end``), and the workflow asks ``flowat.run_end`` nothing: a run of such
a workflow costs one local activity of bookkeeping, not two. A final step that fails,
is cancelled, or cannot record the end (the store is down: the step's code is never
run again for that) leaves the end to ``flowat.run_end`` as before. Only a local step:
its result reaches Temporal in the workflow task that ``flowat.run_end`` would have run
in, so a process that stops once the store shows the end leaves its workflow no less
complete than before; a regular activity's result would need one more workflow task
(and a worker polling for it) after the store already showed the run ended.

Replay: histories recorded before the patch keep their four activities (the workflow
takes the old path when the marker is absent); ``tests/replay`` guards both.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict
from temporalio import activity
from temporalio.exceptions import ApplicationError

from flowat_kernel.analytics.events import event
from flowat_kernel.engine.limit_activities import AdmitRequest
from flowat_kernel.engine.messages import RunEnd, RunEnded, RunFinish, StepOutcome
from flowat_kernel.engine.trust import ForgedTask, RunAuthority, verify_reference, verify_run
from flowat_kernel.spec import WorkflowSpec
from flowat_kernel.store.clock import utcnow
from flowat_kernel.store.run_records import RecordChange, RunStartedWrite

if TYPE_CHECKING:
    from flowat_kernel.store import Store

__all__ = [
    "BEGIN",
    "END",
    "PATCH_END_IN_STEP",
    "PATCH_FOLDED",
    "RunBegun",
    "RunBookkeeping",
    "RunEnd",
    "RunEnded",
    "StepRecords",
    "end_in_final_step",
    "end_run",
]

log = logging.getLogger(__name__)

#: ``workflow.patched`` id: a run's bookkeeping is ``run_begin`` and ``run_end``.
PATCH_FOLDED = "flowat-graph-folded-bookkeeping"
#: ``workflow.patched`` id: a run's final step records the run's end when it succeeds.
PATCH_END_IN_STEP = "flowat-graph-end-in-final-step"
BEGIN = "flowat.run_begin"
END = "flowat.run_end"


class RunBegun(BaseModel):
    """Admission's decision and, when the run may start now, its verified spec."""

    model_config = ConfigDict(frozen=True)

    decision: Literal["unlimited", "admitted", "queued", "skipped", "ended"]
    position: int | None = None
    cancel: list[str] = []
    spec: WorkflowSpec | None = None


class RecordQueue(Protocol):
    """Where record changes are queued to be written in the background."""

    def put(self, write: RecordChange) -> None:
        """Queue a change (written soon, in order)."""
        ...


class StepRecords(Protocol):
    """What the bookkeeping uses of the step activities (``engine.activities``)."""

    store: Store

    @property
    def records(self) -> RecordQueue:
        """The worker's background writer of record changes (``engine.record_writer``)."""
        ...

    def _emit(self, *rows: dict[str, Any]) -> None: ...

    def record_end(self, finish: RunFinish) -> RunAuthority:
        """Record a run's end in the store; the run's verified authority."""
        ...


class RunBookkeeping:
    """``flowat.run_begin`` and ``flowat.run_end``, over the step activities' services."""

    def __init__(self, steps: StepRecords) -> None:
        self.steps = steps
        self.store = steps.store

    def all(self) -> list[object]:
        """Both activities, for ``Worker(activities=...)``."""
        return [self.run_begin, self.run_end]

    @activity.defn(name=BEGIN)
    def run_begin(self, request: AdmitRequest) -> RunBegun:
        """Admit the run and, when it may start, load its verified spec and mark it running.

        A reference that does not match the store's record is refused (not retried).
        """
        try:
            authority = verify_reference(self.store, request.reference)
        except ForgedTask as exc:
            log.error("%s", exc)
            raise ApplicationError(str(exc), type="ForgedTask", non_retryable=True) from None
        run_id = request.reference.run_id
        admission = self.store.admit_run(run_id)
        if admission.decision not in ("unlimited", "admitted"):
            return RunBegun(
                decision=admission.decision,
                position=admission.position,
                cancel=list(admission.cancel),
            )
        if admission.decision == "unlimited":  # marked running with the steps' records
            self.steps.records.put(RunStartedWrite(run_id, utcnow()))
        else:  # a limited run's slot is counted from its status: written at once
            self.store.run_started(run_id)
        self.steps._emit(event("run_started", run_id=run_id))
        return RunBegun(decision=admission.decision, spec=authority.spec)

    @activity.defn(name=END)
    def run_end(self, end: RunEnd) -> RunEnded:
        """Record the run's end; the waiters to wake and the alert deliveries it sets off."""
        return end_run(self.steps, end)


def end_run(steps: StepRecords, end: RunEnd) -> RunEnded:
    """Record the run's end (unless ``end.recorded``); whom to wake, which alerts to send.

    What ``flowat.run_end`` does, and what a run's final step does after it succeeded
    when its task carries the end (:data:`PATCH_END_IN_STEP`).
    """
    store = steps.store
    run_id = end.finish.run_id
    authority = verify_run(store, run_id) if end.recorded else steps.record_end(end.finish)
    woken = store.admission_wakeups(run_id) if end.limited else []
    deliveries: list[str] = []
    if end.event is not None:
        alerts = store.alerts_for(authority.owner, authority.workflow, end.event)
        deliveries = [store.open_delivery(a, run_id, end.event).id for a in alerts]
    return RunEnded(woken=woken, deliveries=deliveries)


def end_in_final_step(
    steps: StepRecords, end: RunEnd, step: str, outcome: StepOutcome
) -> StepOutcome:
    """The run's final ``step`` succeeded with ``outcome``: record the run's end too.

    Nothing here fails the step (its code must not run again for the run's bookkeeping):
    when the end cannot be recorded, the outcome says nothing of it and the workflow asks
    ``flowat.run_end``; when it is recorded but the waiters or alerts cannot be looked
    up, the outcome says so (``complete=False``) and the workflow asks for those. The
    warnings name the error's type only: a store statement's parameters may hold values.
    """
    outputs = {**end.finish.outputs, step: outcome.exports}
    end = end.model_copy(update={"finish": end.finish.model_copy(update={"outputs": outputs})})
    run_id = end.finish.run_id
    try:
        steps.record_end(end.finish)
    except Exception as exc:
        why = type(exc).__name__
        log.warning("run %s: end not recorded by its final step (%s)", run_id, why)
        return outcome
    try:
        ended = end_run(steps, end.model_copy(update={"recorded": True}))
    except Exception as exc:
        why = type(exc).__name__
        log.warning("run %s: waiters and alerts not looked up (%s)", run_id, why)
        ended = RunEnded(complete=False)
    return outcome.model_copy(update={"ended": ended})
