"""One step record as notebook outputs and papermill cell metadata.

Only what the run record holds goes in: the step's captured output (already masked by
the worker), descriptions of its exported values (JSON values as they are, stored values
as a reference; artifacts are never loaded, so nothing unmasked can slip in) and its
error. Statuses map onto papermill's: ``completed``, ``failed``, ``running`` and
``pending`` (not reached: the step was skipped after a failure, or never started).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flowat_kernel.engine.values import Value, describe
from flowat_kernel.reports._nb import Node, from_dict, v4
from flowat_kernel.store import StepRecord

__all__ = ["PAPERMILL_STATUS", "papermill_metadata", "shown", "step_outputs"]

PAPERMILL_STATUS: dict[str, str] = {
    "succeeded": "completed",
    "failed": "failed",
    "cancelled": "failed",
    "running": "running",
    "retrying": "running",
    "pending": "pending",
    "skipped": "pending",
}

#: Longest text shown for one exported value (the full value is in the run record).
_VALUE_CHARS = 2000


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _decided_skip(step: StepRecord) -> bool:
    """Skipped by the workflow's logic (``--when`` false, a skipped branch), not unreached.

    The workflow records such a step when it decides, so it has a start time; a step
    left over by a failed run has none.
    """
    return step.status == "skipped" and step.started_at is not None


def papermill_metadata(step: StepRecord) -> dict[str, Any]:
    """The cell's ``metadata.papermill``, as papermill writes it, from the step's record.

    A step the workflow's logic skipped completed (its decision is its result); one a
    failed run never reached stays ``pending``; one that raised (``SystemExit``
    included, as papermill marks it) ``failed``.
    """
    status = "completed" if _decided_skip(step) else PAPERMILL_STATUS.get(step.status, "pending")
    if _stopped(step):
        status = "failed"
    return {
        "exception": status == "failed",
        "start_time": _iso(step.started_at),
        "end_time": _iso(step.ended_at),
        "duration": step.duration_seconds,
        "status": status,
    }


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= _VALUE_CHARS else text[:_VALUE_CHARS] + " ..."


def _exports(step: StepRecord) -> Node | None:
    if not step.outputs:
        return None
    described = {n: describe(Value.model_validate(v)) for n, v in step.outputs.items()}
    lines = [f"{name} = {_shown(value)}" for name, value in described.items()]
    return v4.new_output(
        "display_data",
        data={"text/plain": "\n".join(lines), "application/json": described},
        metadata={"flowat": {"step": step.name, "exports": sorted(described)}},
    )


def _error(step: StepRecord) -> Node:
    error = step.error or {}
    name = str(error.get("type") or "StepCancelled")
    message = error.get("message")  # "" is the user's own (`assert False`)
    message = f"step {step.name!r} was {step.status}" if message is None else str(message)
    trace = str(error.get("traceback") or "")
    lines = [line for line in trace.splitlines() if line.strip()]
    where = error.get("cell_line")
    lines.append(f"{name}: {message}" + (f" (cell line {where})" if where else ""))
    return v4.new_output("error", ename=name, evalue=message, traceback=lines)


def shown(step: StepRecord) -> list[Node]:
    """What the step showed, as notebook outputs, in order.

    ``step.display`` (stream, execute_result, display_data and error outputs the worker
    captured) when the record has it, else the step's ``logs`` as one stdout stream.
    """
    if step.display is not None:
        return [from_dict(output) for output in step.display]
    if step.logs:
        return [v4.new_output("stream", name="stdout", text=step.logs)]
    return []


def _stopped(step: StepRecord) -> bool:
    """Whether the step ended in an exception: failed, or stopped by ``SystemExit``."""
    error = step.error or {}
    return PAPERMILL_STATUS.get(step.status) == "failed" or error.get("type") == "SystemExit"


def step_outputs(step: StepRecord, exports: bool = True) -> list[Node]:
    """The outputs of the step's cell: what it showed, exported values, error.

    A step that raised (``SystemExit`` included, as a kernel shows it) ends with one
    error output: the one it showed, else one built from its record's error.
    ``exports=False`` leaves out the exported values (a kernel does not show them).
    """
    outputs = []
    if _decided_skip(step):
        note = f"step {step.name!r} skipped: its --when was false, or a step it needs was skipped\n"
        outputs.append(v4.new_output("stream", name="stdout", text=note))
    outputs += shown(step)
    values = _exports(step) if exports else None
    if values is not None:
        outputs.append(values)
    if _stopped(step) and not any(o.get("output_type") == "error" for o in outputs):
        outputs.append(_error(step))
    return outputs
