"""Building the events that runs, steps and actions emit."""

from __future__ import annotations

from typing import Any

from flowat_kernel.analytics.events import event
from flowat_kernel.engine.messages import StepTask
from flowat_kernel.engine.values import Value
from flowat_kernel.step_context import StepScope

__all__ = ["action_events", "step_event", "value_bytes"]


def step_event(
    kind: str, task: StepTask, attempt: int | None = None, **fields: Any
) -> dict[str, Any]:
    """An event about one step of one run."""
    return event(
        kind,
        run_id=task.run_id,
        workflow=task.workflow,
        version=task.version,
        owner=task.owner,
        step=task.step.name,
        attempt=attempt,
        **fields,
    )


def action_events(task: StepTask, scope: StepScope) -> list[dict[str, Any]]:
    """One event per action call the step made (connector, host, outcome, LLM usage)."""
    rows = []
    for call in scope.actions:
        usage = call.get("usage") or {}
        connector, _, action = str(call["action"]).partition(".")
        rows.append(
            step_event(
                "action",
                task,
                scope.attempt,
                connector=connector,
                action=action,
                host=call.get("host"),
                status=call.get("outcome"),
                duration_ms=1000 * float(call.get("seconds") or 0),
                model=usage.get("model"),
                tokens_in=usage.get("tokens_in"),
                tokens_out=usage.get("tokens_out"),
                cost_usd=usage.get("cost_usd"),
            )
        )
    return rows


def value_bytes(values: dict[str, Value], known: dict[int, int] | None = None) -> int:
    """Roughly how many bytes a step's exports hold (inline JSON, or the artifact's size).

    ``known``: sizes already measured, by ``id`` of the value, filled in here (for
    values that stay alive meanwhile: the inputs a chunk's items share).
    """
    total = 0
    for value in values.values():
        if value.ref is not None:
            total += value.ref.size_bytes
        elif value.inline is not None:
            size = known.get(id(value)) if known is not None else None
            if size is None:
                size = len(value.model_dump_json(include={"inline"}))
                if known is not None:
                    known[id(value)] = size
            total += size
    return total
