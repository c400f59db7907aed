"""What the graph workflow applies to every step: timeouts, retry policies, patch ids.

Shared by :mod:`flowat_kernel.engine.step_runner` (one step) and
:mod:`flowat_kernel.engine.foreach_chunks` (a ``--chunk`` step's items); deterministic,
as all workflow code.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy as TemporalRetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from flowat_kernel.engine.messages import RunInput, StepLimits, StepTask
    from flowat_kernel.engine.values import Value
    from flowat_kernel.spec import StepSpec

_Result = TypeVar("_Result")

__all__ = [
    "BOOKKEEPING",
    "BOOKKEEPING_RETRY",
    "PATCH_CONTINUE",
    "PATCH_LOCAL_FAILURE",
    "PATCH_STOP_RUN",
    "SIGNAL_NAME",
    "WORKFLOW_NAME",
    "execute_step",
    "retry_policy",
    "step_failure",
    "step_limits",
    "step_summary",
    "step_task",
    "step_timeout",
]

WORKFLOW_NAME = "flowat.graph"
#: ``workflow.patched`` id: a step's clean ``SystemExit`` ends the run, succeeded, there.
PATCH_STOP_RUN = "flowat-graph-stop-run"
#: ``workflow.patched`` id: ``on_failure="continue"`` starts steps after a failure.
PATCH_CONTINUE = "flowat-graph-continue-after-failure"
#: ``workflow.patched`` id: a failed local step (whose failure reaches the workflow as
#: the step's own ``ApplicationError`` or ``TimeoutError``, not wrapped in an
#: ``ActivityError``) fails its step like any other step; before, it failed the whole
#: workflow at once, without recording the run's end.
PATCH_LOCAL_FAILURE = "flowat-graph-local-step-failure"


def step_failure(error: BaseException) -> bool:
    """Whether ``error``, raised by awaiting a step, is that step failing for good.

    An ``ActivityError`` or ``ChildWorkflowError`` always is; a bare ``ApplicationError``
    or ``TimeoutError`` (how a local activity's failure arrives) is, once the workflow
    takes the :data:`PATCH_LOCAL_FAILURE` path.
    """
    if isinstance(error, ActivityError | ChildWorkflowError):
        return True
    if isinstance(error, ApplicationError | TemporalTimeoutError):
        return workflow.patched(PATCH_LOCAL_FAILURE)
    return False


#: The signal a ``--wait-for NAME`` step waits for: ``(NAME, payload)``.
SIGNAL_NAME = "flowat.signal"
#: Bookkeeping activities (records, loading the spec): their timeout and retry policy.
BOOKKEEPING = timedelta(seconds=30)
# Records are retried until the metadata store answers again (a database restart, say):
# the run waits for its bookkeeping rather than losing it.
BOOKKEEPING_RETRY = TemporalRetryPolicy(maximum_attempts=0, maximum_interval=timedelta(seconds=15))


def step_limits(run: RunInput, name: str) -> StepLimits | None:
    """The run's own limits for step ``name``, if its input gives any."""
    return run.limits.get(name) if run.limits else None


def step_timeout(step: StepSpec, limits: StepLimits | None) -> float:
    """Seconds each attempt of ``step`` may take in this run."""
    if limits is not None and limits.timeout_seconds is not None:
        return limits.timeout_seconds
    return step.timeout_seconds


def step_summary(step: StepSpec) -> str:
    """What an activity running ``step`` is called in Temporal's Web UI: kind and name."""
    what = f"{step.kind} step" if step.kind != "action" else f"action step ({step.action})"
    return f"{what} {step.name}"


def retry_policy(
    step: StepSpec, limits: StepLimits | None = None, before: int = 0
) -> TemporalRetryPolicy:
    """The step's retry policy; the run's ``limits`` may set how many attempts it gets.

    ``before``: attempts the step (a ``--chunk`` item) already had elsewhere, taken off a
    bounded number of attempts.
    """
    policy = step.retry
    attempts = policy.maximum_attempts
    if limits is not None and limits.attempts is not None:
        attempts = limits.attempts
    if attempts > 0 and before:  # 0: unlimited
        attempts = max(attempts - before, 1)
    return TemporalRetryPolicy(
        initial_interval=timedelta(seconds=policy.initial_interval_seconds),
        backoff_coefficient=policy.backoff_coefficient,
        maximum_interval=timedelta(seconds=policy.maximum_interval_seconds),
        maximum_attempts=attempts,
        non_retryable_error_types=list(policy.non_retryable_errors),
    )


def step_task(
    run: RunInput,
    step: StepSpec,
    inputs: dict[str, Value],
    missing: dict[str, str],
    before: int = 0,
    item: bool = False,
) -> StepTask:
    """The activity input for ``step`` (or, with ``item``, a ``--foreach`` item) of ``run``."""
    return StepTask(
        run_id=run.run_id,
        workflow=run.workflow,
        version=run.version,
        step=step,
        inputs=inputs,
        missing=missing,
        owner=run.owner,
        heartbeat_seconds=run.heartbeat_seconds,
        attempts_before=before,
        item=item,
    )


async def execute_step(
    name: str,
    argument: Any,
    result_type: type[_Result],
    run: RunInput,
    step: StepSpec,
    timeout: timedelta,
    policy: TemporalRetryPolicy,
    summary: str,
) -> _Result:
    """Run activity ``name`` for ``step`` on the run's own queue.

    A local activity for a ``--local`` step; otherwise a regular one, heartbeating when
    the run asks for it, and whose cancellation waits until the step has stopped.
    """
    result: _Result
    if step.local:
        result = await workflow.execute_local_activity(
            name,
            argument,
            result_type=result_type,
            start_to_close_timeout=timeout,
            retry_policy=policy,
            summary=summary,
        )
        return result
    heartbeat = run.heartbeat_seconds
    result = await workflow.execute_activity(
        name,
        argument,
        result_type=result_type,
        start_to_close_timeout=timeout,
        retry_policy=policy,
        heartbeat_timeout=timedelta(seconds=heartbeat) if heartbeat else None,
        cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        summary=summary,
    )
    return result
