"""Activities: the only place user code and I/O happen (the workflow only orchestrates)."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from flowat_kernel import sandbox
from flowat_kernel.ai.agent import AgentInput
from flowat_kernel.ai.step_tools import TOOL_ARGUMENTS, step_schemas, tool_call_step
from flowat_kernel.ai.turns import make_plan
from flowat_kernel.analytics.events import event
from flowat_kernel.analytics.writer import EventWriter
from flowat_kernel.engine.agent_activities import AgentActivities, workflow_schema
from flowat_kernel.engine.agent_messages import AGENT_ACTION
from flowat_kernel.engine.alert_activities import AlertActivities
from flowat_kernel.engine.approval_publisher import publish_links
from flowat_kernel.engine.artifact_formats import materialize
from flowat_kernel.engine.artifacts import ArtifactStore
from flowat_kernel.engine.backoff import next_retry_delay
from flowat_kernel.engine.cells import run_code, warm
from flowat_kernel.engine.executor import ExecutionResult, StepCodeError
from flowat_kernel.engine.heartbeat import heartbeating
from flowat_kernel.engine.limit_activities import LimitActivities
from flowat_kernel.engine.messages import (
    RunFinish,
    RunReference,
    StepOutcome,
    StepRecord,
    StepTask,
)
from flowat_kernel.engine.record_writer import RecordWriter
from flowat_kernel.engine.run_bookkeeping import RunBookkeeping
from flowat_kernel.engine.step_events import action_events, step_event, value_bytes
from flowat_kernel.engine.subworkflow import child_input, child_version
from flowat_kernel.engine.trust import (
    ForgedTask,
    RunAuthority,
    confined_body,
    run_confined_body,
    verify_reference,
    verify_run,
    verify_task,
)
from flowat_kernel.engine.values import Value, decode, encode
from flowat_kernel.errors import FlowAtError, ParameterError
from flowat_kernel.sdk.breaker import CircuitBreakers
from flowat_kernel.sdk.call import action as call_action
from flowat_kernel.sdk.call import input_names, validate_input
from flowat_kernel.sdk.egress import organization_policy, run_trigger
from flowat_kernel.sdk.errors import ActionError
from flowat_kernel.sdk.rate_limits import HostRateLimits
from flowat_kernel.sdk.registry import get_action
from flowat_kernel.spec import StepSpec, WorkflowSpec
from flowat_kernel.step_context import Breakers, StepScope, StepServices, step_scope
from flowat_kernel.store import Store
from flowat_kernel.store.clock import utcnow
from flowat_kernel.store.run_records import StepWrite
from flowat_kernel.vault.redaction import names_in, redact_data, redact_text, register
from flowat_kernel.vault.scoped import OrganizationSecrets
from flowat_kernel.vault.vault import Vault

__all__ = ["StepActivities"]

log = logging.getLogger(__name__)


class StepActivities:
    """Activity implementations bound to one store and artifact store.

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

    def _emit(self, *rows: dict[str, Any]) -> None:
        """Record analytics events; a failure there never fails a step."""
        if self.events is None or not rows:
            return
        try:
            self.events.emit_many(rows)
        except Exception as exc:
            log.warning("analytics events not recorded: %s", exc)

    def all(self) -> list[Any]:
        """Every activity, for ``Worker(activities=...)``."""
        return [
            self.run_step,
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

    def _publish_approval_links(self, record: StepRecord) -> None:
        """A ``--wait-for`` step waits: send the links its ``approval`` alerts ask for."""
        try:
            publish_links(self, record.owner, record.run_id, record.workflow, record.step)
        except Exception as exc:  # a link not published never fails the run
            log.warning("approval links of run %s not published: %s", record.run_id, exc)

    @activity.defn(name="flowat.run_loaded")
    def run_loaded(self, reference: RunReference) -> WorkflowSpec:
        """The run's published spec, from the store, after checking the reference.

        The run must be recorded, for the workflow and version named, and the published
        spec's hash must be the one the run was started with. Then the run is marked
        running. Anything else is refused (not retried) and logged.
        """
        try:
            authority = verify_reference(self.store, reference)
        except ForgedTask as exc:
            log.error("%s", exc)  # the worker log says why nothing ran
            raise ApplicationError(str(exc), type="ForgedTask", non_retryable=True) from None
        self.store.run_started(reference.run_id)
        self._emit(event("run_started", run_id=reference.run_id))
        return authority.spec

    @activity.defn(name="flowat.run_started")
    def run_started(self, run_id: str) -> None:
        """Mark the run running (a run FlowAt did not record is refused, and logged)."""
        try:
            verify_run(self.store, run_id)
        except ForgedTask as exc:
            log.error("%s", exc)
            raise ApplicationError(str(exc), type="ForgedTask", non_retryable=True) from None
        self.store.run_started(run_id)
        self._emit(event("run_started", run_id=run_id))

    @activity.defn(name="flowat.run_finished")
    def run_finished(self, finish: RunFinish) -> None:
        """Record the run's final status; a failed step is marked with its error.

        Step records that could not be written during the run (the store was down)
        catch up here from what the workflow knows; this activity retries until the
        store answers. Step changes this process still holds are written first, so a
        run's end is recorded after its steps'.
        """
        self.record_end(finish)

    def record_end(self, finish: RunFinish) -> RunAuthority:
        """What ``flowat.run_finished`` (and ``flowat.run_end``) does; the run's authority.

        One store transaction (:meth:`~flowat_kernel.store.run_records.RunRecords.finish_run`)
        after the step writes this process still holds; the analytics events are made
        from what the worker knows, without reading the run back.
        """
        if not self.records.flush():
            log.warning("step records of run %s still queued at its end", finish.run_id)
        authority = verify_run(self.store, finish.run_id)
        owner = authority.owner
        if finish.owner != owner:
            finish = finish.model_copy(update={"owner": owner})
            if finish.failed_task is not None:
                task = finish.failed_task.model_copy(update={"owner": owner})
                finish = finish.model_copy(update={"failed_task": task})
        self._register_tainted(finish.outputs.values(), owner)
        succeeded = {
            step: {
                name: _masked(value).model_dump(mode="json", exclude_defaults=True)
                for name, value in values.items()
            }
            for step, values in finish.outputs.items()
        }
        failed = finish.failed_step if finish.error is not None else None
        if failed is not None and finish.error is not None and finish.failed_task is not None:
            from flowat_kernel.engine.dead_letters import DeadLetterQueue

            # parked before the end is recorded: a failed run's dead letter is there
            DeadLetterQueue(self.store, self.vault).park(finish.failed_task, finish.error)
        duration = self.store.finish_run(
            finish.run_id, finish.status, finish.error, succeeded, finish.states, failed
        )
        self._emit(*_finish_events(authority, finish, duration))
        return authority

    def _register_tainted(self, exports: Iterable[dict[str, Value]], owner: str | None) -> None:
        """Register the secrets ``exports`` may hold, so that records mask them."""
        tainted = {n for values in exports for v in values.values() for n in v.secrets}
        for name in sorted(tainted):
            register(name, self.vault.reveal_value(name, owner))

    @activity.defn(name="flowat.record_step")
    def record_step(self, record: StepRecord) -> None:
        """Record a step the workflow ran itself (logic, wait, skipped, merged --foreach)."""
        owner = verify_run(self.store, record.run_id, record.workflow).owner
        if record.owner != owner:
            record = record.model_copy(update={"owner": owner})
        self._register_tainted([record.outputs], owner)
        outputs = {
            name: _masked(value).model_dump(mode="json", exclude_defaults=True)
            for name, value in record.outputs.items()
        }
        self._started(record.run_id, record.step, 1)
        if record.status == "running":
            self._publish_approval_links(record)
        if record.status != "running":
            self._finished(
                record.run_id,
                record.step,
                record.status,
                1,
                error=redact_data(record.error) if record.error else None,
                outputs=outputs if record.status == "succeeded" else None,
            )
        self._emit(
            event(
                {"running": "step_started", "skipped": "step_skipped"}.get(
                    record.status, f"step_{record.status}"
                ),
                run_id=record.run_id,
                workflow=record.workflow,
                version=record.version,
                owner=record.owner,
                step=record.step,
                attempt=1,
                duration_ms=record.duration_ms,
            )
        )

    def _started(self, run_id: str, step: str, attempt: int) -> None:
        """Record that an attempt started (written in the background, in order)."""
        self.records.put(StepWrite(run_id, step, "running", attempt, utcnow()))

    def _finished(
        self,
        run_id: str,
        step: str,
        status: str,
        attempt: int,
        *,
        error: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
        logs: str | None = None,
        display: list[dict[str, Any]] | None = None,
    ) -> None:
        """Record how an attempt ended (in the background; ``run_finished`` catches up)."""
        write = StepWrite(run_id, step, status, attempt, utcnow(), error, outputs, logs, display)
        self.records.put(write)

    @activity.defn(name="flowat.run_step")
    def run_step(self, task: StepTask) -> StepOutcome:
        """Run one step: decode inputs, execute its code, store and return its exports."""
        info = activity.info()
        started = time.monotonic()
        attempt = info.attempt
        step = task.step
        try:
            authority = verify_task(self.store, task)
        except ForgedTask as exc:
            log.error("%s", exc)  # the worker log says why nothing ran
            raise ApplicationError(str(exc), type="ForgedTask", non_retryable=True) from None
        if task.owner != authority.owner:
            task = task.model_copy(update={"owner": authority.owner})
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
            trigger=run_trigger(self.store, task.run_id, authority.trigger),
            organization_egress=organization_policy(self.store, task.owner),
            services=self.services_for(task.owner),
            prompts={p.name: p.text for p in authority.spec.prompts},
        )
        limit = info.start_to_close_timeout
        deadline = started + (limit.total_seconds() if limit else step.timeout_seconds)
        later = _read_later(authority.spec, step.name)
        with step_scope(scope), heartbeating():
            try:
                outcome = self._execute(task, attempt, scope, deadline, later)
            except ApplicationError as exc:
                final = exc.non_retryable or attempt >= _attempts(step)
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
                    bytes_in=value_bytes(task.inputs),
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
                return _plan_agent(
                    step, materialize(inputs), confined, scope, deadline, schema, tools
                )
            if step.tool and task.tool_arguments is not None:  # an agent calls a --tool step
                step = tool_call_step(step)
                inputs = {**inputs, TOOL_ARGUMENTS: task.tool_arguments}
            if step.kind == "action":
                result = _run_action(
                    step, materialize(inputs), confined_body(step), scope, deadline
                )
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
                attempt >= _attempts(step)
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
        self._finished(
            task.run_id,
            step.name,
            "succeeded",
            attempt,
            outputs={
                name: _masked(value).model_dump(mode="json", exclude_defaults=True)
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
                exports[name] = _tainted(encode(value, self.artifacts, folder, name), revealed)
            except FlowAtError:
                reason = _untravelled(name, value)
                if reason is None:
                    raise
                untravelled[name] = reason
        notes: list[str] = []
        for name, reason in sorted(untravelled.items()):
            if name in later:
                raise _cannot_travel(task.step.name, reason, result)
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
        result = _body(step, inputs, confined_body(step), scope, deadline, names)
        try:
            child = child_input(self.store, task, version, result.exports)
        except ParameterError as exc:
            raise StepCodeError(step.name, exc, None, "", result.logs) from None
        return StepOutcome(exports={}, step=step.name, child=child)


def _run_action(
    step: StepSpec,
    inputs: dict[str, Any],
    confined: bool,
    scope: StepScope,
    deadline: float | None,
) -> ExecutionResult:
    """An action step: its body sets the action's inputs; the output is its one export.

    A confined body (an untrusted step) is evaluated as expressions, not as Python.

    Raises:
        StepCodeError: the body raised, the action is unknown, or the call failed.

    """
    assert step.action is not None
    try:
        spec = get_action(step.action)
    except FlowAtError as exc:
        error = ActionError(str(exc), retryable=False)
        raise StepCodeError(step.name, error, None, "", "") from None
    result = _body(step, inputs, confined, scope, deadline, tuple(input_names(spec.input)))
    try:
        output = call_action(step.action, **result.exports)
    except ActionError as exc:
        trace = "".join(traceback.format_exception(exc))
        raise StepCodeError(step.name, exc, None, trace, result.logs) from None
    return ExecutionResult({step.name: output.model_dump(mode="json")}, result.logs, {})


def _body(
    step: StepSpec,
    inputs: dict[str, Any],
    confined: bool,
    scope: StepScope,
    deadline: float | None,
    names: tuple[str, ...],
) -> ExecutionResult:
    """Run a step's body for the values of ``names``, confined or as code.

    ``names``: an action's or a sub-workflow's inputs; ``confined``: the body runs in
    the sandbox (``FLOWAT_UNTRUSTED_CODE``).
    """
    if confined:
        return run_confined_body(step, inputs, names)
    return run_code(step, inputs, scope, names, deadline=deadline, passthrough=(CancelledError,))


def _plan_agent(
    step: StepSpec,
    inputs: dict[str, Any],
    confined: bool,
    scope: StepScope,
    deadline: float | None,
    schema: Callable[[str], dict[str, Any]],
    tools: Callable[[str], dict[str, Any]],
) -> StepOutcome:
    """An ``llm.agent`` step: evaluate its body into the loop's plan; the workflow runs it.

    ``schema(workflow)`` gives a workflow tool's parameters, ``tools(step)`` a step
    tool's (a ``--tool`` step of the run's version).

    The step's record stays ``running`` until the loop ends (the workflow records it).

    Raises:
        StepCodeError: the body raised, or its inputs do not make a plan.

    """
    result = _body(step, inputs, confined, scope, deadline, tuple(input_names(AgentInput)))
    try:
        spec = get_action(AGENT_ACTION)
        plan = make_plan(validate_input(spec, result.exports), schema, tools)  # type: ignore[arg-type]
    except (ActionError, FlowAtError) as exc:
        error = exc if isinstance(exc, ActionError) else ActionError(str(exc), retryable=False)
        raise StepCodeError(step.name, error, None, "", result.logs) from None
    return StepOutcome(exports={}, step=step.name, agent=plan)


def _attempts(step: StepSpec) -> int:
    """How many attempts this step gets in this run.

    The retry policy Temporal applies (a run's own limits, e.g. papermill's one attempt
    per cell) when it has a bound, else the spec's.
    """
    policy = activity.info().retry_policy
    if policy is not None and policy.maximum_attempts > 0:  # 0: unlimited
        return policy.maximum_attempts
    return step.retry.maximum_attempts


def _read_later(spec: WorkflowSpec, step: str) -> frozenset[str]:
    """The names later steps read from ``step`` (one ``--foreach`` item: its step's)."""
    base, _, index = step.rpartition(".")
    sources = {step, base} if base and index.isdigit() else {step}
    return frozenset(n for edge in spec.edges if edge.source in sources for n in edge.names)


def _untravelled(name: str, value: Any) -> str | None:
    """Why ``value`` cannot be pickled, or ``None`` when it can (it failed otherwise)."""
    import cloudpickle

    try:
        cloudpickle.dumps(value)
    except Exception as exc:
        return f"{name!r} ({type(value).__name__}) cannot be pickled ({type(exc).__name__}: {exc})"
    return None


def _cannot_travel(step: str, reason: str, result: ExecutionResult) -> StepCodeError:
    """The error of an export a later step reads but that cannot be passed on."""
    where = reason.replace(" cannot be pickled ", " to later steps: it cannot be pickled ", 1)
    error = FlowAtError(
        f"cannot pass {where}; export plain data instead, or give it a name starting with _ "
        "to keep it private to the step"
    )
    failure = StepCodeError(step, error, None, "", result.logs)
    failure.retryable = False  # the same code exports the same value again
    failure.display = result.display
    return failure


def _finish_events(
    run: RunAuthority, finish: RunFinish, duration: float | None
) -> list[dict[str, Any]]:
    """The run's end, and steps that ended without running (skipped, cancelled)."""
    record = run
    rows = [
        event(
            "run_finished",
            run_id=finish.run_id,
            workflow=record.workflow,
            version=record.version,
            owner=record.owner,
            status=finish.status,
            duration_ms=None if duration is None else 1000 * duration,
            error_type=(finish.error or {}).get("type"),
        )
    ]
    for step, state in finish.states.items():
        if state in ("skipped", "cancelled"):
            rows.append(
                event(
                    f"step_{state}",
                    run_id=finish.run_id,
                    workflow=record.workflow,
                    version=record.version,
                    owner=record.owner,
                    step=step,
                )
            )
    if finish.failed_task is not None and finish.error is not None:
        rows.append(
            step_event(
                "dead_lettered",
                finish.failed_task,
                error_type=finish.error.get("type"),
                error=str(finish.error.get("message", "")),
            )
        )
    return rows


def _tainted(value: Value, revealed: set[str]) -> Value:
    """Mark which secrets ``value`` may hold: found in inline JSON, or any revealed for refs."""
    if not revealed:
        return value
    names = names_in(value.inline) if value.ref is None else set(revealed)
    return value.model_copy(update={"secrets": tuple(sorted(names))}) if names else value


def _masked(value: Value) -> Value:
    """The copy of ``value`` that records keep: revealed values masked."""
    if not value.secrets or value.ref is not None:
        return value
    if value.outputs is not None:
        nested = {
            step: {name: _masked(v) for name, v in values.items()}
            for step, values in value.outputs.items()
        }
        return value.model_copy(update={"outputs": nested})
    if value.items is not None:
        return value.model_copy(update={"items": [_masked(v) for v in value.items]})
    return value.model_copy(update={"inline": redact_data(value.inline)})
