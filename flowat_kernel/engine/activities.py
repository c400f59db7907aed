"""Activities: the only place user code and I/O happen (the workflow only orchestrates)."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from flowat_kernel import sandbox
from flowat_kernel.ai.step_tools import TOOL_ARGUMENTS, step_schemas, tool_call_step
from flowat_kernel.analytics.writer import EventWriter
from flowat_kernel.engine.agent_activities import AgentActivities, workflow_schema
from flowat_kernel.engine.agent_messages import AGENT_ACTION
from flowat_kernel.engine.alert_activities import AlertActivities
from flowat_kernel.engine.artifact_formats import materialize
from flowat_kernel.engine.artifacts import ArtifactStore
from flowat_kernel.engine.backoff import next_retry_delay
from flowat_kernel.engine.cells import one_process, run_code, warm
from flowat_kernel.engine.executor import ExecutionResult, StepCodeError
from flowat_kernel.engine.heartbeat import heartbeating
from flowat_kernel.engine.limit_activities import LimitActivities
from flowat_kernel.engine.messages import (
    ChunkOutcome,
    ChunkTask,
    ItemFailure,
    StepOutcome,
    StepTask,
)
from flowat_kernel.engine.record_writer import RecordWriter
from flowat_kernel.engine.run_activities import RunActivities
from flowat_kernel.engine.run_bookkeeping import RunBookkeeping, end_in_final_step
from flowat_kernel.engine.step_bodies import plan_agent, run_action, run_body
from flowat_kernel.engine.step_events import action_events, step_event, value_bytes
from flowat_kernel.engine.step_exports import (
    cannot_travel,
    masked,
    read_later,
    tainted,
    why_untravelled,
)
from flowat_kernel.engine.subworkflow import child_input, child_version
from flowat_kernel.engine.trust import ForgedTask, confined_body, verify_run, verify_task
from flowat_kernel.engine.values import Value, decode, encode
from flowat_kernel.errors import FlowAtError, ParameterError
from flowat_kernel.sdk.breaker import CircuitBreakers
from flowat_kernel.sdk.egress import organization_policy, run_trigger
from flowat_kernel.sdk.rate_limits import HostRateLimits
from flowat_kernel.spec import StepSpec
from flowat_kernel.step_context import Breakers, StepScope, StepServices, step_scope
from flowat_kernel.store import Store
from flowat_kernel.vault.redaction import redact_data, redact_text, register
from flowat_kernel.vault.scoped import OrganizationSecrets
from flowat_kernel.vault.vault import Vault

__all__ = ["StepActivities"]

log = logging.getLogger(__name__)


class StepActivities(RunActivities):
    """Activity implementations bound to one store and artifact store.

    The run-level ones (a run loaded, started, finished; steps the workflow records
    itself) come from :class:`~flowat_kernel.engine.run_activities.RunActivities`;
    the step activity (``flowat.run_step``) is here.

    Args:
        store: where run and step records are written.
        artifacts: where large values are stored.
        vault: where steps' secrets are revealed from.
        events: where analytics events go (none: not recorded).

    """

    def __init__(
        self,
        store: Store,
        artifacts: ArtifactStore,
        vault: Vault,
        events: EventWriter | None = None,
        breakers: Breakers | None = None,
    ) -> None:
        self.store = store
        #: Step records are written in the background, batched (see record_writer).
        self.records = RecordWriter(store)
        self.artifacts = artifacts
        self.vault = vault
        self.events = events
        self.breakers: Breakers = breakers if breakers is not None else CircuitBreakers(store)
        warm()  # step processes: the template imports FlowAt and IPython meanwhile

    def services_for(self, owner: str | None) -> StepServices:
        """What step code of organization ``owner`` may use: its secrets, never others'."""
        return StepServices(
            owner=owner,
            secrets=OrganizationSecrets(self.vault, owner),
            breakers=self.breakers,
            files_dir=self.artifacts.root / "files",
            rate_limits=HostRateLimits(self.store, owner),
        )

    def all(self) -> list[Any]:
        """Every activity, for ``Worker(activities=...)``."""
        return [
            self.run_step,
            self.run_chunk,
            self.run_loaded,
            self.run_started,
            self.run_finished,
            self.record_step,
            *AlertActivities(self.store, self.services_for).all(),
            *LimitActivities(self.store).all(),
            *RunBookkeeping(self).all(),
            *AgentActivities(
                self.store, self.services_for, self._emit, self.vault.record_usage
            ).all(),
        ]

    @activity.defn(name="flowat.run_step")
    def run_step(self, task: StepTask) -> StepOutcome:
        """Run one step: decode inputs, execute its code, store and return its exports."""
        info = activity.info()
        started = time.monotonic()
        task, context = self._admit(task)
        limit = info.start_to_close_timeout
        deadline = started + (limit.total_seconds() if limit else task.step.timeout_seconds)
        with self.items() if task.item else contextlib.nullcontext():
            attempt = info.attempt + task.attempts_before
            outcome = self._attempt(task, attempt, context, started, deadline)
        if task.run_end is None or outcome.child is not None or outcome.agent is not None:
            return outcome
        return end_in_final_step(self, task.run_end, task.step.name, outcome)

    @activity.defn(name="flowat.run_chunk")
    def run_chunk(self, chunk: ChunkTask) -> ChunkOutcome:
        """Run a chunk of a ``--chunk`` step's items, one after another, in one step process.

        Each item is recorded, counted and shown on its own (``STEP.INDEX``), in a fresh
        namespace; modules the items import stay loaded for the next item. An item that
        fails is reported, not raised: the workflow retries it on its own, or fails the
        step with it (then the chunk stops there, as no new item starts after a failure).
        A timed-out item's process is stopped and the next item gets a new one.
        """
        attempt = activity.info().attempt
        task, context = self._admit(chunk.task)
        step = task.step
        done: dict[int, StepOutcome] = {}
        failed: dict[int, ItemFailure] = {}
        with self.items(), one_process():
            for index, item in zip(chunk.indices, chunk.items, strict=True):
                item_task = task.model_copy(
                    update={
                        "step": step.model_copy(update={"name": f"{step.name}.{index}"}),
                        "inputs": {
                            **task.inputs,
                            "item": Value(inline=item),
                            "index": Value(inline=index),
                        },
                    }
                )
                started = time.monotonic()
                deadline = started + chunk.item_timeout_seconds
                try:
                    done[index] = self._attempt(item_task, attempt, context, started, deadline)
                except ApplicationError as exc:
                    details = exc.details[0] if exc.details else None
                    delay = exc.next_retry_delay
                    failed[index] = ItemFailure(
                        message=exc.message,
                        type=exc.type or "Error",
                        error=details if isinstance(details, dict) else {},
                        final=exc.non_retryable,
                        attempt=attempt,
                        retry_in=delay.total_seconds() if delay is not None else 0.0,
                    )
                    if exc.non_retryable:
                        break
                    continue
                if done[index].stop_run:
                    break
        return ChunkOutcome(done=done, failed=failed)

    def _admit(self, task: StepTask) -> tuple[StepTask, _Context]:
        """Check the task against the store; what every attempt of its step shares.

        Raises:
            ApplicationError: the task is forged (``ForgedTask``, not retried).

        """
        try:
            authority = verify_task(self.store, task)
        except ForgedTask as exc:
            log.error("%s", exc)  # the worker log says why nothing ran
            raise ApplicationError(str(exc), type="ForgedTask", non_retryable=True) from None
        if task.owner != authority.owner:
            task = task.model_copy(update={"owner": authority.owner})
        context = _Context(
            trigger=run_trigger(self.store, task.run_id, authority.trigger),
            organization_egress=organization_policy(self.store, task.owner),
            prompts={p.name: p.text for p in authority.spec.prompts},
            later=read_later(authority.spec, task.step.name),
        )
        return task, context

    def _attempt(
        self, task: StepTask, attempt: int, context: _Context, started: float, deadline: float
    ) -> StepOutcome:
        """One attempt of one step (or item): records, events, the code, its exports.

        Raises:
            ApplicationError: the attempt failed (``non_retryable`` when it is final).

        """
        step = task.step
        self._started(task.run_id, step.name, attempt)
        self._emit(step_event("step_started", task, attempt))
        if task.missing:
            detail = "; ".join(f"{n!r}: {why}" for n, why in sorted(task.missing.items()))
            message = f"step {step.name!r} cannot start: inputs missing ({detail})"
            error = {"step": step.name, "type": "StepInputError", "message": message}
            self._finished(task.run_id, step.name, "failed", attempt, error=error)
            self._emit(
                step_event("step_failed", task, attempt, error_type="StepInputError", error=message)
            )
            raise ApplicationError(message, error, type="StepInputError", non_retryable=True)
        scope = StepScope(
            task.owner,
            task.workflow,
            task.run_id,
            step.name,
            attempt,
            trigger=context.trigger,
            organization_egress=context.organization_egress,
            services=self.services_for(task.owner),
            prompts=context.prompts,
        )
        with step_scope(scope), heartbeating():
            try:
                outcome = self._execute(task, attempt, scope, deadline, context.later)
            except ApplicationError as exc:
                final = exc.non_retryable or attempt >= _attempts(step, task.attempts_before)
                self._emit(
                    step_event(
                        "step_failed" if final else "step_retried",
                        task,
                        attempt,
                        duration_ms=1000 * (time.monotonic() - started),
                        error_type=exc.type,
                        error=str(exc),
                    ),
                    *action_events(task, scope),
                )
                raise
            finally:
                if scope.revealed:
                    self.vault.record_usage(scope.revealed, task.workflow, task.owner)
        if outcome.child is None and outcome.agent is None:
            self._emit(
                step_event(
                    "step_succeeded",
                    task,
                    attempt,
                    duration_ms=1000 * (time.monotonic() - started),
                    bytes_in=value_bytes(task.inputs, context.sizes),
                    bytes_out=value_bytes(outcome.exports),
                ),
                *action_events(task, scope),
            )
        return outcome

    def _execute(
        self,
        task: StepTask,
        attempt: int,
        scope: StepScope,
        deadline: float | None = None,
        later: frozenset[str] = frozenset(),
    ) -> StepOutcome:
        step = task.step
        inherited = {name for value in task.inputs.values() for name in value.secrets}
        for name in sorted(inherited):
            # Upstream steps revealed these: mask them here too, even in another process.
            register(name, self.vault.reveal_value(name, task.owner))
        # Tables and arrays stay opened bytes until a step's process loads them.
        inputs = {
            name: decode(value, self.artifacts, prepared=True)
            for name, value in task.inputs.items()
        }
        try:
            if step.kind == "workflow":
                return self._start_child(task, materialize(inputs), scope, deadline)
            if step.kind == "action" and step.action == AGENT_ACTION:
                schema = workflow_schema(self.store, task.owner)
                tools = step_schemas(verify_run(self.store, task.run_id).spec)
                confined = confined_body(step)
                return plan_agent(
                    step, materialize(inputs), confined, scope, deadline, schema, tools
                )
            if step.tool and task.tool_arguments is not None:  # an agent calls a --tool step
                step = tool_call_step(step)
                inputs = {**inputs, TOOL_ARGUMENTS: task.tool_arguments}
            if step.kind == "action":
                result = run_action(step, materialize(inputs), confined_body(step), scope, deadline)
            elif sandbox.wants_sandbox(step):
                result = sandbox.run_untrusted(step, materialize(inputs), self.vault, scope)
            else:
                result = run_code(
                    step,
                    inputs,
                    scope,
                    deadline=deadline,
                    passthrough=(CancelledError,),
                    prepared=True,
                    # The run's next step may take this process unless it holds a secret.
                    keep_for=None if inherited else task.run_id,
                )
            exports = self._encode(task, result, scope.revealed | inherited, later)
        except CancelledError as exc:
            # A stopped step process hands over what the step showed until then.
            if shown := getattr(exc, "display", None):
                message = "the step was cancelled while it ran: its process was stopped"
                self._finished(
                    task.run_id,
                    step.name,
                    "retrying" if activity.is_worker_shutdown() else "cancelled",
                    attempt,
                    error={"step": step.name, "type": "StepCancelled", "message": message},
                    logs=redact_text(getattr(exc, "logs", "")) or None,
                    display=redact_data(shown),
                )
            raise
        except StepCodeError as exc:
            final = (
                attempt >= _attempts(step, task.attempts_before)
                or exc.exc_type in step.retry.non_retryable_errors
                or exc.retryable is False
            )
            error = redact_data(exc.as_dict())
            self._finished(
                task.run_id,
                step.name,
                "failed" if final else "retrying",
                attempt,
                error=error,
                logs=redact_text(exc.logs),
                display=redact_data(shown) if (shown := getattr(exc, "display", None)) else None,
            )
            # Full jitter within the step's policy, so runs failing together spread out.
            delay = None if final else next_retry_delay(step.retry, attempt)
            if delay is not None:
                log.info(
                    "run %s step %r attempt %d failed; next attempt in %.3f s",
                    task.run_id,
                    step.name,
                    attempt,
                    delay.total_seconds(),
                )
            raise ApplicationError(
                redact_text(str(exc)),
                error,
                type=exc.exc_type,
                non_retryable=final,
                next_retry_delay=delay,
            ) from None
        if self.recording():
            self._finished(
                task.run_id,
                step.name,
                "succeeded",
                attempt,
                outputs={
                    name: masked(value).model_dump(mode="json", exclude_defaults=True)
                    for name, value in exports.items()
                },
                logs=redact_text(result.logs) or None,
                display=redact_data(result.display) if result.display else None,
            )
        return StepOutcome(
            exports=exports,
            skipped=result.skipped_exports,
            step=step.name,
            stop_run=result.stop_run,
        )

    def _encode(
        self,
        task: StepTask,
        result: ExecutionResult,
        revealed: set[str],
        later: frozenset[str],
    ) -> dict[str, Value]:
        """Encode the step's exports; leave out those that cannot travel and nobody reads.

        An export that cannot be pickled (an open or closed file, a lock, a connection,
        a generator) fails the step only when a later step reads it; otherwise it is
        left out, with a note in the step's log and its ``skipped`` reasons.

        Raises:
            StepCodeError: a later step reads an export that cannot travel.

        """
        folder = f"runs/{task.run_id}/{task.step.name}"
        untravelled = dict(result.untravelled)
        exports: dict[str, Value] = {}
        for name, value in result.exports.items():
            try:
                exports[name] = tainted(encode(value, self.artifacts, folder, name), revealed)
            except FlowAtError:
                reason = why_untravelled(name, value)
                if reason is None:
                    raise
                untravelled[name] = reason
        notes: list[str] = []
        for name, reason in sorted(untravelled.items()):
            if name in later:
                raise cannot_travel(task.step.name, reason, result)
            result.skipped_exports[name] = f"not passed on: {reason}; no later step reads it"
            notes.append(f"[flowat] {reason}: not passed on (no later step reads {name!r})\n")
        if notes:
            note = "".join(notes)
            result.logs += note
            result.display.append({"output_type": "stream", "name": "stderr", "text": note})
        return exports

    def _start_child(
        self,
        task: StepTask,
        inputs: dict[str, Any],
        scope: StepScope,
        deadline: float | None,
    ) -> StepOutcome:
        """Run a sub-workflow step's body for the child's parameters; record the child run.

        The step's record stays ``running`` until the child ends (``run_finished``
        records it then).

        Raises:
            StepCodeError: the body raised, or the parameters do not fit the child.

        """
        step = task.step
        try:
            version = child_version(self.store, task)
        except ParameterError as exc:
            raise StepCodeError(step.name, exc, None, "", "") from None
        names = tuple(i.name for i in version.spec.inputs)
        result = run_body(step, inputs, confined_body(step), scope, deadline, names)
        try:
            child = child_input(self.store, task, version, result.exports)
        except ParameterError as exc:
            raise StepCodeError(step.name, exc, None, "", result.logs) from None
        return StepOutcome(exports={}, step=step.name, child=child)


def _attempts(step: StepSpec, before: int = 0) -> int:
    """How many attempts this step gets in this run, counting ``before`` (see StepTask).

    The retry policy Temporal applies (a run's own limits, e.g. papermill's one attempt
    per cell) when it has a bound, else the spec's.
    """
    policy = activity.info().retry_policy
    if policy is not None and policy.maximum_attempts > 0:  # 0: unlimited
        return policy.maximum_attempts + before
    return step.retry.maximum_attempts


@dataclass(frozen=True)
class _Context:
    """What every attempt of a step shares, read once per activity."""

    trigger: str | None
    organization_egress: str | None
    prompts: dict[str, str]
    later: frozenset[str]
    #: Sizes of input values already measured (a chunk's items share most inputs).
    sizes: dict[int, int] = field(default_factory=dict)
