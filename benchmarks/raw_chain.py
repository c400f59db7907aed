"""The raw temporalio baseline of ``bench_engine.py``: N no-op activities in a chain.

Kept in its own tiny module (not in the benchmark script) so the workflow sandbox does
not re-execute the benchmark script for every workflow run, and so it can be passed
through the sandbox exactly as FlowAt passes its own package through.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

TIMEOUT = timedelta(seconds=60)


@activity.defn(name="bench.noop")
def noop(step: int) -> int:
    """Do nothing (runs in the worker's thread pool, like a FlowAt step)."""
    return step


@workflow.defn(name="bench.raw_chain")
class RawChain:
    """Call :func:`noop` ``steps`` times, each call after the previous one finished."""

    @workflow.run
    async def run(self, steps: int, local: bool) -> int:
        done = 0
        for step in range(steps):
            if local:
                done += await workflow.execute_local_activity(
                    noop, step, start_to_close_timeout=TIMEOUT
                )
            else:
                done += await workflow.execute_activity(noop, step, start_to_close_timeout=TIMEOUT)
        return done
