"""The raw temporalio baseline of ``bench_burst.py``: a webhook-style two-step workflow.

Two local activities: ``parse`` reads a small JSON event, ``reply`` builds a small JSON
answer from it. Kept in its own module so the benchmark script is not imported by the
worker's workflow machinery.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import activity, workflow

TIMEOUT = timedelta(seconds=60)


@activity.defn(name="burst.parse")
def parse(event: dict[str, Any]) -> dict[str, Any]:
    """Step 1: pick the fields of the event (runs in the worker's thread pool)."""
    return {"id": event["id"], "amount": float(event["amount"])}


@activity.defn(name="burst.reply")
def reply(order: dict[str, Any]) -> dict[str, Any]:
    """Step 2: the small JSON answer."""
    return {"id": order["id"], "accepted": order["amount"] > 0}


@workflow.defn(name="bench.burst_raw")
class RawBurst:
    """``parse`` then ``reply``, both as local activities."""

    @workflow.run
    async def run(self, event: dict[str, Any]) -> dict[str, Any]:
        order = await workflow.execute_local_activity(parse, event, start_to_close_timeout=TIMEOUT)
        return await workflow.execute_local_activity(reply, order, start_to_close_timeout=TIMEOUT)
