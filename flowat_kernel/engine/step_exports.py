"""A step's exports on their way out: who reads them, which cannot travel, what is masked."""

from __future__ import annotations

from typing import Any

from flowat_kernel.engine.executor import ExecutionResult, StepCodeError
from flowat_kernel.engine.values import Value
from flowat_kernel.errors import FlowAtError
from flowat_kernel.spec import WorkflowSpec
from flowat_kernel.vault.redaction import names_in, redact_data

__all__ = ["cannot_travel", "masked", "read_later", "tainted", "why_untravelled"]


def read_later(spec: WorkflowSpec, step: str) -> frozenset[str]:
    """The names later steps read from ``step`` (one ``--foreach`` item: its step's)."""
    base, _, index = step.rpartition(".")
    sources = {step, base} if base and index.isdigit() else {step}
    return frozenset(n for edge in spec.edges if edge.source in sources for n in edge.names)


def why_untravelled(name: str, value: Any) -> str | None:
    """Why ``value`` cannot be pickled, or ``None`` when it can (it failed otherwise)."""
    import cloudpickle

    try:
        cloudpickle.dumps(value)
    except Exception as exc:
        return f"{name!r} ({type(value).__name__}) cannot be pickled ({type(exc).__name__}: {exc})"
    return None


def cannot_travel(step: str, reason: str, result: ExecutionResult) -> StepCodeError:
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


def tainted(value: Value, revealed: set[str]) -> Value:
    """Mark which secrets ``value`` may hold: found in inline JSON, or any revealed for refs."""
    if not revealed:
        return value
    names = names_in(value.inline) if value.ref is None else set(revealed)
    return value.model_copy(update={"secrets": tuple(sorted(names))}) if names else value


def masked(value: Value) -> Value:
    """The copy of ``value`` that records keep: revealed values masked."""
    if not value.secrets or value.ref is not None:
        return value
    if value.outputs is not None:
        nested = {
            step: {name: masked(v) for name, v in values.items()}
            for step, values in value.outputs.items()
        }
        return value.model_copy(update={"outputs": nested})
    if value.items is not None:
        return value.model_copy(update={"items": [masked(v) for v in value.items]})
    return value.model_copy(update={"inline": redact_data(value.inline)})
