"""The attack of a client holding FlowAt's own key: a recorded run, started with other code.

Shared by the worker-trust tests (``test_worker_trust.py``, ``test_foreach_chunks.py``).
"""

from __future__ import annotations

import contextlib
from typing import Any

from temporalio.client import WorkflowFailureError

from flowat_kernel.engine.launch import RunLauncher
from flowat_kernel.engine.workflow import WORKFLOW_NAME
from flowat_kernel.runtime import get_runtime
from flowat_kernel.spec import WorkflowSpec


def start_with_other_code(
    queue: str, version: int, parameters: dict[str, Any], spec: WorkflowSpec, **changes: Any
) -> str:
    """Record a run of ``version``, start it on ``queue`` carrying ``spec``; its run id.

    The start passes the codec (it is FlowAt's own client); ``changes`` alter the run's
    input further (another ``owner``, say). Returns once the workflow has ended.
    """
    runtime = get_runtime()
    runtime.call(runtime.ensure_worker())
    launcher = RunLauncher(runtime)

    async def attack() -> str:
        prepared, workflow_id, _ = await launcher.queue(
            version, parameters, trigger="test", actor="attacker"
        )
        client = await runtime.client()
        forged = prepared.model_copy(update={"spec": spec, **changes})
        handle = await client.start_workflow(
            WORKFLOW_NAME, forged, id=workflow_id, task_queue=queue
        )
        with contextlib.suppress(WorkflowFailureError):
            await handle.result()
        return prepared.run_id

    run_id: str = runtime.call(attack(), timeout=120)
    return run_id
