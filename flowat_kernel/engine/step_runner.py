"""How the graph workflow carries out one step of any kind.

:class:`StepRunner` is the half of :class:`~flowat_kernel.engine.workflow.GraphWorkflow`
that runs a single step: code, action and sub-workflow steps as activities (or a child
workflow), logic steps by evaluating their expressions here, waits with a timer or a
signal, and ``--foreach`` steps as one activity per item with bounded concurrency (or,
with ``--chunk``, several items per activity: :mod:`flowat_kernel.engine.foreach_chunks`).
Like the rest of the workflow it is deterministic: expressions count operations, never
time. Timeouts, retry policies and patch ids live in
:mod:`flowat_kernel.engine.step_policies`.
"""

from __future__ import annotations

import asyncio
import builtins
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from flowat_kernel.engine.agent_runner import PATCH_AGENT, run_agent_loop
    from flowat_kernel.engine.foreach_chunks import ChunkedForeach, ItemsRun
    from flowat_kernel.engine.logic import (
        LogicFailure,
        condition,
        evaluate_logic,
        foreach_items,
        map_inputs,
        map_outputs,
    )
    from flowat_kernel.engine.messages import (
        RunEnd,
        RunInput,
        RunOutcome,
        StepOutcome,
        StepRecord,
        StepTask,
    )
    from flowat_kernel.engine.routing import routed_queue, run_routed
    from flowat_kernel.engine.step_policies import (
        BOOKKEEPING,
        BOOKKEEPING_RETRY,
        PATCH_CONTINUE,
        PATCH_LOCAL_FAILURE,
        PATCH_STOP_RUN,
        SIGNAL_NAME,
        WORKFLOW_NAME,
        execute_step,
        retry_policy,
        step_failure,
        step_limits,
        step_summary,
        step_task,
        step_timeout,
    )
    from flowat_kernel.engine.values import Value
    from flowat_kernel.spec import LOGIC_KINDS, StepSpec

__all__ = [
    "BOOKKEEPING",
    "BOOKKEEPING_RETRY",
    "PATCH_CONTINUE",
    "PATCH_LOCAL_FAILURE",
    "PATCH_STOP_RUN",
    "SIGNAL_NAME",
    "WORKFLOW_NAME",
    "StepRunner",
    "step_failure",
    "step_limits",
    "step_summary",
    "step_timeout",
]


class StepRunner(ChunkedForeach):
    """Runs one step; the workflow's state lives on the subclass."""

    _states: dict[str, str]
    _tasks: dict[str, StepTask]
    _signals: dict[str, Any]
    #: The run's final step and the end its task carries (see ``run_bookkeeping``).
    _final: tuple[str, RunEnd] | None

    @staticmethod
    def _plain(step: StepSpec, after_skipped: bool) -> bool:
        """A step carried out as one activity (or child), with no expression around it."""
        return not (after_skipped or step.when or step.foreach or step.map_in or step.map_out) and (
            step.kind not in LOGIC_KINDS
        )

    def _inputs(
        self, run: RunInput, step: StepSpec, results: dict[str, dict[str, Value]]
    ) -> tuple[dict[str, Value], dict[str, str]]:
        """The step's input values, and the names an upstream step did not export."""
        inputs: dict[str, Value] = {}
        missing: dict[str, str] = {}
        for binding in step.inputs:
            if binding.source == "input":
                inputs[binding.name] = Value(inline=run.parameters.get(binding.name))
            elif binding.step not in results and step.merge:
                inputs[binding.name] = Value(inline=None)  # a skipped branch of a merge
            else:
                assert binding.step is not None
                exported = results[binding.step]
                if binding.name in exported:
                    inputs[binding.name] = exported[binding.name]
                else:
                    missing[binding.name] = f"step {binding.step!r} did not export it in this run"
        return inputs, missing

    async def _step(
        self,
        run: RunInput,
        step: StepSpec,
        results: dict[str, dict[str, Value]],
        after_skipped: bool,
    ) -> StepOutcome | None:
        """Run one step of any kind; ``None`` when it is skipped.

        Raises:
            LogicFailure: one of its expressions failed, or its wait timed out.

        """
        if self._plain(step, after_skipped):  # the commands of versions before logic steps
            return await self._run_any(run, step, results)
        meta = self._meta(run)
        if after_skipped and not step.merge:
            self._states[step.name] = "skipped"
            await self._note(run, step.name, "skipped")
            return None
        inputs, missing = self._inputs(run, step, results)
        if not condition(step, inputs, meta):
            self._states[step.name] = "skipped"
            await self._note(run, step.name, "skipped")
            return None
        started = workflow.now()
        stop = False  # the step's code ended with a clean SystemExit
        if step.kind in LOGIC_KINDS:
            self._states[step.name] = "running"
            exports = await self._logic(run, step, inputs, meta)
        else:
            inputs = map_inputs(step, inputs, meta)
            if step.foreach is not None:
                exports, stop = await self._foreach(run, step, inputs, missing, meta)
            else:
                outcome = await self._run_any(run, step, results, (inputs, missing))
                if not step.map_out:
                    return outcome
                exports, stop = outcome.exports, outcome.stop_run
            exports = map_outputs(step, exports, inputs, meta)
        elapsed = (workflow.now() - started).total_seconds() * 1000
        await self._note(run, step.name, "succeeded", exports, elapsed)
        return StepOutcome(exports=exports, step=step.name, stop_run=stop)

    def _meta(self, run: RunInput) -> dict[str, Any]:
        """The run's metadata as expressions see it (``run["id"]`` and so on)."""
        return {
            "id": run.run_id,
            "workflow": run.workflow,
            "version": run.version,
            "started_at": workflow.info().start_time.isoformat(),
            "parameters": dict(run.parameters),
        }

    async def _logic(
        self, run: RunInput, step: StepSpec, inputs: dict[str, Value], meta: dict[str, Any]
    ) -> dict[str, Value]:
        """Evaluate an expression step, or carry out a wait."""
        if step.kind != "wait":
            return evaluate_logic(step, inputs, meta)
        if step.signal is None:
            assert step.wait_seconds is not None
            self._states[step.name] = "waiting"
            await workflow.sleep(step.wait_seconds)
            return {step.name: Value(inline=workflow.now().isoformat())}
        signal = step.signal
        self._states[step.name] = "waiting"
        await self._note(run, step.name, "running")
        try:
            await workflow.wait_condition(
                lambda: signal in self._signals, timeout=timedelta(seconds=step.timeout_seconds)
            )
        except builtins.TimeoutError:
            raise LogicFailure(
                step.name,
                "WaitTimedOut",
                f"no signal {signal!r} within {step.timeout_seconds:g}s (--timeout); send it "
                f"with: flowat signal {run.run_id} {signal}",
            ) from None
        self._states[step.name] = "running"
        return {step.name: Value(inline=self._signals[signal])}

    async def _foreach(
        self,
        run: RunInput,
        step: StepSpec,
        inputs: dict[str, Value],
        missing: dict[str, str],
        meta: dict[str, Any],
    ) -> tuple[dict[str, Value], bool]:
        """Run ``step`` once per item, at most ``concurrency`` at a time, then merge.

        Each export becomes a list in item order. The first item to fail for good fails
        the step; items already running finish, no new one starts. An item that ends
        with a clean ``SystemExit`` stops the step the same way, and then the run (the
        ``bool`` returned): items not started export ``None``.
        """
        items = foreach_items(step, inputs, meta)
        await self._note(run, step.name, "running")
        self._states[step.name] = "running"
        if step.chunk is not None:
            outcomes, error, stop = await self._chunked(run, step, inputs, missing, items)
        else:
            outcomes, error, stop = await self._each(run, step, inputs, missing, items)
        if error is not None:
            raise error

        def export(index: int, name: str) -> Value:
            if index not in outcomes:  # not started: the run stopped before it
                return Value(inline=None)
            found = outcomes[index].exports
            if name == step.name:  # an action's or sub-workflow's result, under the item's name
                return found.get(name) or found.get(f"{step.name}.{index}") or Value(inline=None)
            return found.get(name, Value(inline=None))

        merged = {
            name: Value.of_items([export(i, name) for i in range(len(items))])
            for name in step.exports
        }
        return merged, stop

    async def _each(
        self,
        run: RunInput,
        step: StepSpec,
        inputs: dict[str, Value],
        missing: dict[str, str],
        items: list[Any],
    ) -> ItemsRun:
        """Run each item as an activity of its own, at most ``concurrency`` at a time."""
        outcomes: dict[int, StepOutcome] = {}
        running: dict[asyncio.Task[StepOutcome], int] = {}
        queue = list(range(len(items)))
        error: BaseException | None = None
        stop = False
        while queue or running:
            while queue and error is None and not stop and len(running) < step.concurrency:
                index = queue.pop(0)
                item_step = step.model_copy(update={"name": f"{step.name}.{index}"})
                item_inputs = dict(
                    inputs,
                    item=Value(inline=items[index]),
                    index=Value(inline=index),
                )
                task = asyncio.ensure_future(
                    self._run_any(run, item_step, {}, (item_inputs, missing), step.name)
                )
                running[task] = index
            if not running:
                break
            done, _ = await workflow.wait(list(running), return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                index = running.pop(task)
                try:
                    outcomes[index] = task.result()
                except Exception as exc:
                    if not step_failure(exc):
                        raise
                    error = error or exc
                    continue
                if outcomes[index].stop_run and not stop:
                    stop = workflow.patched(PATCH_STOP_RUN)
            if stop and not running:
                break
        return outcomes, error, stop

    async def _note(
        self,
        run: RunInput,
        step: str,
        status: str,
        outputs: dict[str, Value] | None = None,
        duration_ms: float | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        """Record a step the workflow runs itself (logic, wait, skipped, merged)."""
        await self._record(
            "flowat.record_step",
            StepRecord(
                run_id=run.run_id,
                workflow=run.workflow,
                version=run.version,
                step=step,
                status=status,
                outputs=outputs or {},
                error=error,
                owner=run.owner,
                duration_ms=duration_ms,
            ),
        )

    async def _run_any(
        self,
        run: RunInput,
        step: StepSpec,
        results: dict[str, dict[str, Value]],
        given: tuple[dict[str, Value], dict[str, str]] | None = None,
        limited_as: str | None = None,
        before: int = 0,
    ) -> StepOutcome:
        """:meth:`_run_step`, then the agent loop when the step is an ``llm.agent`` step."""
        outcome = await self._run_step(run, step, results, given, limited_as, before)
        if outcome.agent is None or not workflow.patched(PATCH_AGENT):
            return outcome
        started = workflow.now()
        limits = step_limits(run, limited_as or step.name)
        output = await run_agent_loop(
            run,
            step,
            outcome.agent,
            timedelta(seconds=step_timeout(step, limits)),
            retry_policy(step, limits, before),
            retry_policy,
            self._states,
        )
        exports = {step.name: Value(inline=output.model_dump(mode="json"))}
        elapsed = (workflow.now() - started).total_seconds() * 1000
        await self._note(run, step.name, "succeeded", exports, elapsed)
        return StepOutcome(exports=exports, step=step.name)

    async def _run_step(
        self,
        run: RunInput,
        step: StepSpec,
        results: dict[str, dict[str, Value]],
        given: tuple[dict[str, Value], dict[str, str]] | None = None,
        limited_as: str | None = None,
        before: int = 0,
    ) -> StepOutcome:
        """Run a code, action or sub-workflow step (or one ``--foreach`` item) as an activity.

        Its timeout and retry policy are its spec's, or the run's own limits for it
        (for an item: those of ``limited_as``, the ``--foreach`` step). ``before``: the
        attempts a ``--chunk`` item already had in its chunk.
        """
        inputs, missing = given if given is not None else self._inputs(run, step, results)
        limits = step_limits(run, limited_as or step.name)
        task = step_task(run, step, inputs, missing, before, item=limited_as is not None)
        self._tasks[step.name] = task
        if self._final is not None and self._final[0] == step.name and given is None:
            task = task.model_copy(update={"run_end": self._final[1]})
        timeout = timedelta(seconds=step_timeout(step, limits))
        self._states[step.name] = "running"
        # Temporal's Web UI names every activity flowat.run_step; the summary says which
        # step it runs (readable there through FlowAt's codec endpoint).
        summary = step_summary(step)
        policy = retry_policy(step, limits, before)
        queue = None if step.local else routed_queue(run, step)  # --queue: engine/routing.py
        if queue is not None:
            heartbeat = run.heartbeat_seconds
            outcome = await run_routed(
                run,
                task,
                queue,
                {
                    "start_to_close_timeout": timeout,
                    "retry_policy": policy,
                    "heartbeat_timeout": timedelta(seconds=heartbeat) if heartbeat else None,
                    "cancellation_type": ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                    "summary": summary,
                },
                self._record,
            )
            if outcome.child is not None:
                return await self._run_child(step, outcome.child, queue)
            return outcome
        outcome = await execute_step(
            "flowat.run_step", task, StepOutcome, run, step, timeout, policy, summary
        )
        if outcome.child is not None and not step.local:
            return await self._run_child(step, outcome.child)
        return outcome

    async def _run_child(
        self, step: StepSpec, child: RunInput, queue: str | None = None
    ) -> StepOutcome:
        """Run a sub-workflow step's child; its outputs become the step's one export.

        The child runs on ``queue`` when the step is routed, else on this run's own
        task queue. Cancelling the parent cancels the child; the child's failure fails
        the step.
        """
        result: RunOutcome = await workflow.execute_child_workflow(
            WORKFLOW_NAME,
            child,
            id=f"flowat-{child.workflow}-{child.run_id}",
            task_queue=queue or workflow.info().task_queue,
            result_type=RunOutcome,
        )
        return StepOutcome(exports={step.name: Value.of_run(result.outputs)}, step=step.name)

    async def _record(self, name: str, argument: Any) -> None:
        await workflow.execute_local_activity(
            name, argument, start_to_close_timeout=BOOKKEEPING, retry_policy=BOOKKEEPING_RETRY
        )
