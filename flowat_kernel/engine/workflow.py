"""The one generic Temporal workflow: it interprets any version's spec.

Deterministic by construction: it only reads its input and activity results, iterates
steps in spec order, evaluates expressions with an operation budget (never a clock), and
leaves all user code and I/O to activities. A step starts as soon as every step it
depends on has finished; independent branches run in parallel. A step whose ``--when``
is false is skipped, and so is every step depending on a skipped one unless it
``--merge``s.

Notebook semantics: when a step fails for good, no new step starts (steps not started
stay ``pending``), running ones finish, and the run fails with the step's name,
exception type, message and line; a spec with ``on_failure="continue"`` keeps starting
every step that does not depend on a failed one. A step that ends with a clean
``SystemExit`` (``StepOutcome.stop_run``) stops the run the same way, but it ends
``succeeded``. Both changes are guarded with :data:`PATCH_STOP_RUN` and
:data:`PATCH_CONTINUE` (see ``tests/replay/README.md``).
"""

from __future__ import annotations

import asyncio
import builtins
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    TimeoutError,
)

from flowat_kernel.engine.run_ending import RunEnding, tell
from flowat_kernel.engine.step_runner import (
    BOOKKEEPING,
    BOOKKEEPING_RETRY,
    PATCH_CONTINUE,
    PATCH_LOCAL_FAILURE,
    PATCH_STOP_RUN,
    SIGNAL_NAME,
    WORKFLOW_NAME,
    step_failure,
    step_limits,
    step_timeout,
)

with workflow.unsafe.imports_passed_through():
    from flowat_kernel.engine.limit_activities import (
        ADMIT,
        ADMIT_POLL,
        ADMIT_SIGNAL,
        PATCH_LIMITS,
        AdmitRequest,
        AdmitResult,
    )
    from flowat_kernel.engine.logic import LogicFailure
    from flowat_kernel.engine.messages import (
        RunInput,
        RunOutcome,
        StepOutcome,
        StepTask,
    )
    from flowat_kernel.engine.run_bookkeeping import (
        BEGIN,
        PATCH_FOLDED,
        RunBegun,
        RunEnd,
        RunEnded,
    )
    from flowat_kernel.engine.values import Value
    from flowat_kernel.spec import StepSpec, WorkflowSpec

__all__ = [
    "PATCH_CONTINUE",
    "PATCH_FOLDED",
    "PATCH_LIMITS",
    "PATCH_LOCAL_FAILURE",
    "PATCH_STOP_RUN",
    "SIGNAL_NAME",
    "WORKFLOW_NAME",
    "GraphWorkflow",
]


def _failure(
    step: StepSpec,
    error: ActivityError | ChildWorkflowError | ApplicationError | TimeoutError,
    timeout_seconds: float,
) -> dict[str, Any]:
    """Describe why ``step`` failed for good, as JSON for the run record and the client.

    ``timeout_seconds`` is the step's timeout in this run (its spec's, or the run's own).
    A local step's failure arrives unwrapped: it is its own cause.
    """
    cause = error.cause if isinstance(error, ActivityError | ChildWorkflowError) else error
    failure: dict[str, Any] = {"step": step.name, "attempts": None}
    if isinstance(error, ChildWorkflowError):
        child = cause.details[0] if isinstance(cause, ApplicationError) and cause.details else {}
        child = child if isinstance(child, dict) else {}
        failure["type"] = "SubWorkflowFailed"
        failure["detail"] = f"sub-workflow {step.workflow!r} failed: " + str(
            child.get("message") or cause or error
        )
        failure["cell_line"] = None
        failure["child"] = {k: v for k, v in child.items() if k != "traceback"}
    elif isinstance(cause, ApplicationError):
        details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
        failure["type"] = details.get("type") or cause.type or "Error"
        failure["detail"] = details.get("message", cause.message)
        failure["cell_line"] = details.get("cell_line")
        failure["traceback"] = details.get("traceback")
    elif isinstance(cause, TimeoutError):
        failure["type"] = "StepTimeout"
        failure["detail"] = f"no result within {timeout_seconds:g}s (--timeout)"
        failure["cell_line"] = None
    else:
        failure["type"] = type(cause).__name__ if cause else "ActivityError"
        failure["detail"] = str(cause or error)
        failure["cell_line"] = None
    where = f" at cell line {failure['cell_line']}" if failure["cell_line"] else ""
    failure["message"] = f"step {step.name!r} failed{where}: {failure['type']}: {failure['detail']}"
    return failure


@workflow.defn(name=WORKFLOW_NAME)
class GraphWorkflow(RunEnding):
    """Interprets a :class:`~flowat_kernel.spec.WorkflowSpec`."""

    def __init__(self) -> None:
        self._states: dict[str, str] = {}
        self._results: dict[str, dict[str, Value]] = {}
        self._tasks: dict[str, StepTask] = {}
        self._signals: dict[str, Any] = {}
        self._admit_woken = False  # a slot may have freed (ADMIT_SIGNAL)
        self._limited = False  # this run holds a concurrency slot
        self._folded = False  # bookkeeping through run_begin / run_end (PATCH_FOLDED)
        self._final: tuple[str, RunEnd] | None = None  # the step that records the end
        self._ended: RunEnded | None = None  # the end that step recorded

    @workflow.query(name="flowat.states")
    def states(self) -> dict[str, str]:
        """Each step's state as this workflow sees it."""
        return dict(self._states)

    @workflow.signal(name=SIGNAL_NAME)
    def signal(self, name: str, payload: Any = None) -> None:
        """Deliver signal ``name``; a ``--wait-for name`` step takes ``payload`` as its value.

        A signal that arrives before its step waits is kept for it.
        """
        self._signals[name] = payload

    @workflow.signal(name=ADMIT_SIGNAL)
    def admit_woken(self) -> None:
        """A slot of this run's workflow may be free: a waiting run asks again at once."""
        self._admit_woken = True

    @workflow.run
    async def run(self, run: RunInput) -> RunOutcome:
        """Run every step of the run's spec in dependency order.

        The spec is loaded first, from the store, by the run's reference (the
        ``flowat.run_loaded`` activity checks the run's record and the spec's hash).

        A cancelled run stops its running steps, records them cancelled and ends
        cancelled; a run past ``timeout_seconds`` does the same and ends timed out.
        """
        if run.spec is None and workflow.patched(PATCH_FOLDED):
            self._folded = True
            without_slot, loaded = await self._begin(run)
            if without_slot is not None:  # skipped by the limit, or ended while waiting
                return without_slot
            run = run.model_copy(update={"spec": loaded or await self._load(run)})
        else:  # runs started before PATCH_FOLDED: their histories replay as they ran
            if run.spec is None and workflow.patched(PATCH_LIMITS):
                without_slot = await self._admission(run)
                if without_slot is not None:  # skipped by the limit, or ended while waiting
                    return without_slot
            if run.spec is None:  # started by reference: load and verify from the store
                run = run.model_copy(update={"spec": await self._load(run)})
            else:  # a run started before references: its history replays as it ran
                await self._record("flowat.run_started", run.run_id)
        spec = run.graph
        upstream = spec.upstream_map()
        results = self._results
        pending = [step.name for step in spec.steps if not step.tool]
        self._states = dict.fromkeys(pending, "pending")
        # A --tool step runs only when an agent calls it, never on its own: skipped unless
        # a call's record (final) says otherwise.
        self._states.update((step.name, "skipped") for step in spec.steps if step.tool)
        for name, outcome in run.reuse.items():
            if name in self._states:  # succeeded in the run this one re-runs
                results[name] = outcome.exports
                self._states[name] = "succeeded"
                pending.remove(name)
        finished = set(results)
        skipped: set[str] = set()
        failed: set[str] = set()
        stopped_at: str | None = None  # the step whose clean SystemExit stopped the run
        go_on = spec.on_failure == "continue" and workflow.patched(PATCH_CONTINUE)
        running: dict[asyncio.Task[StepOutcome | None], StepSpec] = {}
        failure: dict[str, Any] | None = None
        deadline = (
            workflow.now() + timedelta(seconds=run.timeout_seconds) if run.timeout_seconds else None
        )
        try:
            while pending or running:
                if stopped_at is None and (failure is None or go_on):
                    for name in list(pending):
                        if upstream[name] <= finished and not upstream[name] & failed:
                            pending.remove(name)
                            step = spec.step(name)
                            after_skipped = bool(upstream[name] & skipped)
                            if not (pending or running or failure) and self._ends_run(
                                step, after_skipped
                            ):
                                self._final = (name, self._end_if_succeeded(run, name))
                            task = asyncio.ensure_future(
                                self._step(run, step, results, after_skipped)
                            )
                            running[task] = step
                if not running:
                    break
                remaining = (
                    max((deadline - workflow.now()).total_seconds(), 0.001) if deadline else None
                )
                done, _ = await workflow.wait(
                    list(running), timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                if not done and deadline is not None and workflow.now() >= deadline:
                    await self._stop(running, pending)
                    return await self._end_early(run, "timed_out")
                for task, step in list(running.items()):
                    if not task.done():
                        continue
                    del running[task]
                    finished.add(step.name)
                    try:
                        ended = task.result()
                    except (
                        ActivityError,
                        ChildWorkflowError,
                        ApplicationError,
                        TimeoutError,
                    ) as error:
                        if not step_failure(error):
                            raise
                        self._states[step.name] = "failed"
                        failed.add(step.name)
                        if failure is None:
                            timeout = step_timeout(step, step_limits(run, step.name))
                            failure = _failure(step, error, timeout)
                        continue
                    except LogicFailure as error:
                        self._states[step.name] = "failed"
                        failed.add(step.name)
                        if failure is None:
                            failure = error.failure
                        continue
                    if ended is None:
                        skipped.add(step.name)
                        self._states[step.name] = "skipped"
                    else:
                        results[step.name] = ended.exports
                        self._states[step.name] = "succeeded"
                        self._ended = ended.ended or self._ended
                        if (
                            ended.stop_run
                            and stopped_at is None
                            and workflow.patched(PATCH_STOP_RUN)
                        ):
                            stopped_at = step.name
        except asyncio.CancelledError:
            await self._stop(running, pending)
            await self._end_early(run, "cancelled")
            raise
        # Steps never started (after a failure or a stop) keep their state: pending.
        if failure is not None:
            await self._close(run, self._finish(run, "failed", failure, failure["step"]))
            raise ApplicationError(
                failure["message"], failure, type="StepFailed", non_retryable=True
            )
        await self._close(run, self._finish(run, "succeeded"))
        return RunOutcome(status="succeeded", outputs=results)

    async def _load(self, run: RunInput) -> WorkflowSpec:
        """The run's published spec, verified, from the store (``flowat.run_loaded``)."""
        loaded: WorkflowSpec = await workflow.execute_local_activity(
            "flowat.run_loaded",
            run.reference(),
            result_type=WorkflowSpec,
            start_to_close_timeout=BOOKKEEPING,
            retry_policy=BOOKKEEPING_RETRY,
        )
        return loaded

    async def _begin(self, run: RunInput) -> tuple[RunOutcome | None, WorkflowSpec | None]:
        """Admission and loading in one activity (``flowat.run_begin``, see run_bookkeeping).

        ``(None, spec)`` when the run may start at once; a run that had to wait for a
        slot is admitted by :meth:`_admission` and gets ``(None, None)``: its spec is
        loaded next. ``(outcome, None)`` when it ends at admission.
        """
        self._admit_woken = False
        try:
            begun = await workflow.execute_local_activity(
                BEGIN,
                AdmitRequest(reference=run.reference()),
                result_type=RunBegun,
                start_to_close_timeout=BOOKKEEPING,
                retry_policy=BOOKKEEPING_RETRY,
            )
        except asyncio.CancelledError:
            await self._end_early(run, "cancelled")
            raise
        if begun.decision in ("unlimited", "admitted") and begun.spec is not None:
            self._limited = begun.decision == "admitted"
            return None, begun.spec
        return await self._admission(run, first=begun), None

    async def _admission(self, run: RunInput, first: RunBegun | None = None) -> RunOutcome | None:
        """Wait for a slot under the workflow's concurrency limit (see limit_activities).

        ``None`` once the run may start; its outcome when it ends here instead (skipped
        by the limit, or already ended). Cancelled while waiting, it records so.
        ``first``: the decision ``flowat.run_begin`` already made (not asked again).
        """
        reclaim = False
        try:
            while True:
                admitted: AdmitResult | RunBegun
                if first is not None:
                    admitted, first = first, None
                else:
                    self._admit_woken = False
                    admitted = await workflow.execute_local_activity(
                        ADMIT,
                        AdmitRequest(reference=run.reference(), reclaim=reclaim),
                        result_type=AdmitResult,
                        start_to_close_timeout=BOOKKEEPING,
                        retry_policy=BOOKKEEPING_RETRY,
                    )
                if admitted.decision in ("unlimited", "admitted"):
                    self._limited = admitted.decision == "admitted"
                    return None
                if admitted.decision == "skipped":
                    return RunOutcome(status="skipped", outputs={})
                if admitted.decision == "ended":
                    return RunOutcome(status="cancelled", outputs={})
                if admitted.cancel:  # cancel-oldest: make room
                    await asyncio.gather(*(tell(w, None) for w in admitted.cancel))
                try:
                    await workflow.wait_condition(lambda: self._admit_woken, timeout=ADMIT_POLL)
                    reclaim = False
                except builtins.TimeoutError:  # the poll: no signal came
                    reclaim = True
        except asyncio.CancelledError:
            await self._end_early(run, "cancelled")
            raise

    async def _stop(
        self, running: dict[asyncio.Task[StepOutcome | None], StepSpec], pending: list[str]
    ) -> None:
        """Cancel running steps and wait until they have stopped."""
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        for step in running.values():
            self._states[step.name] = "cancelled"
        for name in pending:
            self._states[name] = "cancelled"

    async def _end_early(self, run: RunInput, status: str) -> RunOutcome:
        """Record a cancelled or timed-out run; a timed-out one fails the workflow."""
        if status == "timed_out":
            message = f"the run did not finish within {run.timeout_seconds:g}s (--timeout)"
            error = {"type": "RunTimedOut", "message": message}
            await self._close(run, self._finish(run, status, error))
            raise ApplicationError(message, error, type="RunTimedOut", non_retryable=True)
        error = {"type": "RunCancelled", "message": "the run was cancelled"}
        await self._close(run, self._finish(run, status, error))  # a cancelled run: no alert
        return RunOutcome(status=status, outputs={})
