"""Sub-workflow steps: a step that runs another published workflow as a child.

The step's cell body computes the child's parameters (the names it assigns that are
inputs of the child); the activity resolves the child's version, records the child run
and hands the workflow a :class:`RunInput` to start as a Temporal child workflow. The
child's outputs become one value, under the step's name, for later steps.
"""

from __future__ import annotations

import uuid
from typing import Any

from flowat_kernel.engine.messages import RunInput, StepTask
from flowat_kernel.engine.values import is_plain_json
from flowat_kernel.errors import NotFoundError, ParameterError
from flowat_kernel.params import coerce_parameters
from flowat_kernel.store import Store, VersionRecord

__all__ = ["child_input", "child_version"]

_CHILD_IDS = uuid.UUID("6f0c3c1e-5b7e-4f1a-9d0e-2c8a4b1f7e55")


def child_version(store: Store, task: StepTask) -> VersionRecord:
    """The version a sub-workflow step runs: the pinned one, else the latest now."""
    step = task.step
    assert step.workflow is not None
    owner = task.owner or ""
    try:
        return store.get_version(owner, step.workflow, step.workflow_version)
    except NotFoundError as exc:
        raise ParameterError(f"sub-workflow step {step.name!r}: {exc}") from None


def child_input(
    store: Store, task: StepTask, version: VersionRecord, values: dict[str, Any]
) -> RunInput:
    """Record the child run (once per parent run and step) and describe its start.

    Raises:
        ParameterError: a parameter is not JSON or does not fit the child's inputs.

    """
    step = task.step
    for name, value in values.items():
        if not is_plain_json(value):
            raise ParameterError(
                f"sub-workflow step {step.name!r}: parameter {name!r} is a "
                f"{type(value).__name__}; parameters of a sub-workflow are JSON values "
                "(numbers, text, lists, dicts)"
            )
    parameters = coerce_parameters(version.spec.inputs, values)
    run_id = uuid.uuid5(_CHILD_IDS, f"{task.run_id}/{step.name}").hex
    try:
        store.get_run(run_id)  # a retried attempt: the child run is already recorded
    except NotFoundError:
        store.create_run(
            run_id,
            version,
            parameters,
            f"workflow:{task.run_id}",
            f"flowat-{version.workflow}-{run_id}",
        )
    return RunInput(
        run_id=run_id,
        workflow=version.workflow,
        version=version.number,
        spec_hash=version.spec_hash,
        parameters=parameters,
        heartbeat_seconds=task.heartbeat_seconds,
    )
