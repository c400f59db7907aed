"""``--foreach ... --chunk N``: a code step's items, N to one activity and one step process.

Without ``--chunk`` every item of a ``--foreach`` step is an activity of its own (see
:class:`~flowat_kernel.engine.step_runner.StepRunner`). With it, the workflow hands
consecutive items to ``flowat.run_chunk`` N at a time (at most ``concurrency`` chunks at
once), which runs them one after another in one step process: the activity's round trip,
the step process's start and the run's checks are paid once per chunk, not per item.

Each item is still its own step attempt (``STEP.INDEX``): recorded, counted in
analytics, shown, and run in a fresh namespace. An item that fails is retried **on its
own**, as a plain per-item activity whose attempt numbers count on from the chunk's, after
the retry delay its failure asked for; an item that fails for good fails the step, no new
item or chunk starts after it, and the run's error names the item as without ``--chunk``.
A whole chunk that fails (its worker died, it ran out of time) is retried by Temporal as
a whole, by the step's retry policy; its items then run again.

Deterministic like the rest of the workflow: chunks are formed from indices, outcomes are
taken in the order the chunks started.
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from flowat_kernel.engine.messages import (
        ChunkOutcome,
        ChunkTask,
        ItemFailure,
        RunInput,
        StepLimits,
        StepOutcome,
    )
    from flowat_kernel.engine.step_policies import (
        PATCH_STOP_RUN,
        execute_step,
        retry_policy,
        step_failure,
        step_limits,
        step_summary,
        step_task,
        step_timeout,
    )
    from flowat_kernel.engine.values import Value
    from flowat_kernel.spec import StepSpec

__all__ = ["ChunkedForeach", "ItemsRun"]

#: What running a ``--foreach`` step's items gives: each item's outcome by index, the
#: first failure for good (if any), and whether an item ended the run (``SystemExit``).
ItemsRun = tuple[dict[int, StepOutcome], BaseException | None, bool]


def _chunks(count: int, size: int) -> deque[list[int]]:
    """Consecutive item indices, ``size`` at a time."""
    return deque(list(range(start, min(start + size, count))) for start in range(0, count, size))


class ChunkedForeach:
    """The ``--chunk`` way of running a ``--foreach`` step's items (a workflow mixin)."""

    async def _run_any(
        self,
        run: RunInput,
        step: StepSpec,
        results: dict[str, dict[str, Value]],
        given: tuple[dict[str, Value], dict[str, str]] | None = None,
        limited_as: str | None = None,
        before: int = 0,
    ) -> StepOutcome:
        raise NotImplementedError  # the workflow's StepRunner runs one step

    async def _chunked(
        self,
        run: RunInput,
        step: StepSpec,
        inputs: dict[str, Value],
        missing: dict[str, str],
        items: list[Any],
    ) -> ItemsRun:
        """Run ``items`` in chunks of ``step.chunk``; see the module's documentation."""
        assert step.chunk is not None
        limits = step_limits(run, step.name)
        queue = _chunks(len(items), step.chunk)
        outcomes: dict[int, StepOutcome] = {}
        running: dict[asyncio.Task[ChunkOutcome], list[int]] = {}
        error: BaseException | None = None
        stop = False
        while queue or running:
            while queue and error is None and not stop and len(running) < step.concurrency:
                indices = queue.popleft()
                chunk = self._chunk(run, step, inputs, missing, indices, items, limits)
                running[asyncio.ensure_future(chunk)] = indices
            if not running:
                break
            await workflow.wait(list(running), return_when=asyncio.FIRST_COMPLETED)
            for task in [t for t in running if t.done()]:  # in the order they started
                del running[task]
                try:
                    result = task.result()
                except Exception as exc:
                    if not step_failure(exc):
                        raise
                    error = error or exc
                    continue
                outcomes.update(result.done)
                for index, failure in sorted(result.failed.items()):
                    if failure.final:
                        error = error or ApplicationError(
                            failure.message, failure.error, type=failure.type, non_retryable=True
                        )
                    elif error is None and not stop:
                        item = items[index]
                        again = self._again(run, step, inputs, missing, index, item, failure)
                        running[asyncio.ensure_future(again)] = [index]
                if not stop and any(o.stop_run for o in result.done.values()):
                    stop = workflow.patched(PATCH_STOP_RUN)
            if stop and not running:
                break
        return outcomes, error, stop

    async def _chunk(
        self,
        run: RunInput,
        step: StepSpec,
        inputs: dict[str, Value],
        missing: dict[str, str],
        indices: list[int],
        items: list[Any],
        limits: StepLimits | None,
    ) -> ChunkOutcome:
        """One ``flowat.run_chunk`` activity: the items at ``indices``."""
        each = step_timeout(step, limits)
        task = ChunkTask(
            task=step_task(run, step, inputs, missing),
            indices=indices,
            items=[items[i] for i in indices],
            item_timeout_seconds=each,
        )
        whole = timedelta(seconds=each * len(indices))
        summary = f"{step_summary(step)}, items {indices[0]} to {indices[-1]}"
        policy = retry_policy(step, limits)
        return await execute_step(
            "flowat.run_chunk", task, ChunkOutcome, run, step, whole, policy, summary
        )

    async def _again(
        self,
        run: RunInput,
        step: StepSpec,
        inputs: dict[str, Value],
        missing: dict[str, str],
        index: int,
        item: Any,
        failure: ItemFailure,
    ) -> ChunkOutcome:
        """Retry one item that failed in its chunk, on its own, after its retry delay."""
        if failure.retry_in > 0:
            await workflow.sleep(timedelta(seconds=failure.retry_in))
        item_step = step.model_copy(update={"name": f"{step.name}.{index}"})
        item_inputs = dict(inputs, item=Value(inline=item), index=Value(inline=index))
        outcome = await self._run_any(
            run, item_step, {}, (item_inputs, missing), step.name, before=failure.attempt
        )
        return ChunkOutcome(done={index: outcome})
