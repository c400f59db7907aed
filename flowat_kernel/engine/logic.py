"""Logic steps and step expressions, evaluated inside the workflow.

Everything here is deterministic (the expression language counts operations, it reads no
clock), so it may run in workflow code and replay identically. Expressions see the
step's inputs as plain JSON: a value stored as an artifact (a data frame, say) or a
secret handle is named in a clear error instead, so that the work moves to a code step.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from flowat_kernel.engine.values import INLINE_LIMIT_BYTES, Value, is_plain_json
from flowat_kernel.errors import StepError
from flowat_kernel.expressions import (
    DEFAULT_LIMITS,
    Expression,
    ExpressionError,
    OperationMeter,
    parse,
    run_assignments,
)
from flowat_kernel.spec import StepSpec

__all__ = [
    "LogicFailure",
    "condition",
    "evaluate_logic",
    "foreach_items",
    "map_inputs",
    "map_outputs",
]

#: At most this many items in a --foreach or --filter list (each item is history).
MAX_ITEMS = 10_000
#: Workflow code must replay identically: only the operation budget limits it, never the
#: wall clock (a slow replay would otherwise fail where the first run passed).
WORKFLOW_LIMITS = dataclasses.replace(DEFAULT_LIMITS, max_seconds=None)


class LogicFailure(StepError):
    """A step's expression failed; ``failure`` is the run's failure record.

    A failure of the run (``usage = False``), raised in workflow code; the message names
    the step and the reason, so that the user can correct the expression or its inputs.
    """

    usage = False

    def __init__(self, step: str, kind: str, detail: str) -> None:
        self.failure: dict[str, Any] = {
            "step": step,
            "type": kind,
            "detail": detail,
            "cell_line": None,
            "attempts": 1,
            "message": f"step {step!r} failed: {kind}: {detail}",
        }
        super().__init__(self.failure["message"])

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.failure["step"], self.failure["type"], self.failure["detail"]))


def _plain(value: Value) -> tuple[bool, Any, str]:
    """``(readable, python value, why not)`` for one input value."""
    if value.handle is not None:
        return False, None, f"the secret handle {value.handle!r}"
    if value.ref is not None:
        return False, None, f"stored as an artifact ({value.ref.description})"
    if value.outputs is not None:
        nested: dict[str, dict[str, Any]] = {}
        for step, values in value.outputs.items():
            nested[step] = {}
            for name, inner in values.items():
                ok, python, why = _plain(inner)
                if not ok:
                    return False, None, f"a sub-workflow result whose {step}.{name} is {why}"
                nested[step][name] = python
        return True, nested, ""
    if value.items is not None:
        return False, None, "a list of stored artifacts"
    return True, value.inline, ""


class _Context:
    """The names one step's expressions may read, and the secrets they carry."""

    def __init__(self, step: StepSpec, inputs: dict[str, Value], run: dict[str, Any]) -> None:
        self.step = step
        self.inputs = inputs
        self.names: dict[str, Any] = {"run": run}
        self.unreadable: dict[str, str] = {}
        # All of this step's expressions share one allowance (max_total_operations).
        self.meter = OperationMeter.for_limits(WORKFLOW_LIMITS)
        self.parsed: dict[str, Expression] = {}  # a --filter predicate is parsed once
        for name, value in inputs.items():
            ok, python, why = _plain(value)
            if ok:
                self.names[name] = python
            else:
                self.unreadable[name] = why

    def evaluate(self, text: str, what: str, extra: dict[str, Any] | None = None) -> Any:
        """Evaluate ``text`` over the context (plus ``extra``).

        Raises:
            LogicFailure: the expression is wrong, reads an unreadable value, or fails.

        """
        try:
            expression = self.parsed.get(text)
            if expression is None:
                expression = self.parsed[text] = parse(text, step=self.step.name)
            blocked = sorted(expression.names & self.unreadable.keys())
            if blocked:
                name = blocked[0]
                raise LogicFailure(
                    self.step.name,
                    "ExpressionError",
                    f"{what} `{text}` reads {name!r}, which is {self.unreadable[name]}; "
                    "expressions see JSON data only: compute what you need in a code step",
                )
            names = dict(self.names, **(extra or {}))
            return expression.evaluate(names, WORKFLOW_LIMITS, meter=self.meter)
        except ExpressionError as exc:
            raise LogicFailure(self.step.name, "ExpressionError", f"{what}: {exc}") from None

    def secrets(self, text: str | None = None) -> tuple[str, ...]:
        """Secrets of the inputs ``text`` reads (all inputs' when ``text`` is None)."""
        read = parse(text, step=self.step.name).names if text is not None else None
        found = {
            n
            for name, value in self.inputs.items()
            if read is None or name in read
            for n in value.secrets
        }
        return tuple(sorted(found))


def _value(step: StepSpec, what: str, python: Any, secrets: tuple[str, ...]) -> Value:
    """Wrap an expression's result as an inline value, or fail clearly."""
    if not is_plain_json(python):
        raise LogicFailure(
            step.name,
            "ExpressionError",
            f"{what} gave a {type(python).__name__}, which is not JSON data",
        )
    if len(json.dumps(python)) > INLINE_LIMIT_BYTES:
        raise LogicFailure(
            step.name,
            "ExpressionError",
            f"{what} gave more than {INLINE_LIMIT_BYTES // 1024} KiB; logic steps keep their "
            "results in the run's history: compute large values in a code step",
        )
    return Value(inline=python, secrets=secrets)


def _list(step: StepSpec, what: str, python: Any) -> list[Any]:
    if isinstance(python, tuple):
        python = list(python)
    if not isinstance(python, list):
        raise LogicFailure(
            step.name,
            "ExpressionError",
            f"{what} must give a list; it gave a {type(python).__name__}",
        )
    if len(python) > MAX_ITEMS:
        raise LogicFailure(
            step.name,
            "ExpressionError",
            f"{what} gave {len(python)} items; at most {MAX_ITEMS} are allowed: split the work "
            "into sub-workflows",
        )
    return python


def condition(step: StepSpec, inputs: dict[str, Value], run: dict[str, Any]) -> bool:
    """Whether the step's ``--when`` condition holds (true when it has none)."""
    if step.when is None:
        return True
    return bool(_Context(step, inputs, run).evaluate(step.when, "--when"))


def foreach_items(step: StepSpec, inputs: dict[str, Value], run: dict[str, Any]) -> list[Any]:
    """The list a ``--foreach`` step runs over."""
    assert step.foreach is not None
    items = _Context(step, inputs, run).evaluate(step.foreach, "--foreach")
    return _list(step, "--foreach", items)


def map_inputs(step: StepSpec, inputs: dict[str, Value], run: dict[str, Any]) -> dict[str, Value]:
    """The step's inputs with its ``--in`` mappings added (each sees the ones before)."""
    if not step.map_in:
        return inputs
    context = _Context(step, inputs, run)
    mapped = dict(inputs)
    extra: dict[str, Any] = {}
    for mapping in step.map_in:
        what = f"--in {mapping.name}"
        python = context.evaluate(mapping.expression, what, extra)
        mapped[mapping.name] = _value(step, what, python, context.secrets(mapping.expression))
        extra[mapping.name] = python
    return mapped


def map_outputs(
    step: StepSpec, exports: dict[str, Value], inputs: dict[str, Value], run: dict[str, Any]
) -> dict[str, Value]:
    """The step's ``--out`` mappings over its own exports (then its inputs)."""
    if not step.map_out:
        return exports
    context = _Context(step, {**inputs, **exports}, run)
    return {
        m.name: _value(
            step,
            f"--out {m.name}",
            context.evaluate(m.expression, f"--out {m.name}"),
            context.secrets(m.expression),
        )
        for m in step.map_out
    }


def evaluate_logic(
    step: StepSpec, inputs: dict[str, Value], run: dict[str, Any]
) -> dict[str, Value]:
    """Evaluate an ``if``, ``switch``, ``set`` or ``filter`` step: its exports."""
    context = _Context(step, inputs, run)
    if step.kind == "set":
        try:
            assigned = run_assignments(
                step.source, context.names, step=step.name, limits=WORKFLOW_LIMITS
            )
        except ExpressionError as exc:
            raise LogicFailure(step.name, "ExpressionError", str(exc)) from None
        secrets = context.secrets()
        return {n: _value(step, f"{n} =", v, secrets) for n, v in assigned.items()}
    text = step.expression
    if step.kind == "if":
        return {step.name: Value(inline=bool(context.evaluate(text, "the condition")))}
    if step.kind == "switch":
        python = context.evaluate(text, "the expression")
        return {step.name: _value(step, "the expression", python, context.secrets(text))}
    if step.kind == "filter":
        assert step.items is not None
        items = _list(step, "--filter", context.evaluate(step.items, "--filter"))
        kept = [
            item
            for index, item in enumerate(items)
            if context.evaluate(text, "the predicate", {"item": item, "index": index})
        ]
        secrets = tuple(sorted(set(context.secrets(text)) | set(context.secrets(step.items))))
        return {step.name: _value(step, "the filter", kept, secrets)}
    raise LogicFailure(step.name, "SpecError", f"{step.kind!r} is not evaluated by expressions")
