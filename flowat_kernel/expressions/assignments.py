"""Set Variable cells: ``name = expression`` lines, evaluated in order."""

from __future__ import annotations

import ast
from collections import ChainMap
from collections.abc import Mapping
from typing import Any

from flowat_kernel.expressions.errors import ExpressionError, Refusal
from flowat_kernel.expressions.expression import Expression, parse_node, syntax_refusal
from flowat_kernel.expressions.functions import FUNCTIONS
from flowat_kernel.expressions.limits import DEFAULT_LIMITS, Limits
from flowat_kernel.expressions.source import Source

__all__ = ["parse_assignments", "run_assignments"]

_ONLY = "a Set Variable cell holds only `name = expression` lines"


def _target(statement: ast.stmt) -> str:
    if isinstance(statement, ast.AugAssign) and isinstance(statement.target, ast.Name):
        name = statement.target.id
        raise Refusal(statement, f"augmented assignment is not allowed: write {name} = {name} ...")
    if isinstance(statement, ast.AnnAssign):
        raise Refusal(statement, f"annotations are not allowed: {_ONLY}")
    if not isinstance(statement, ast.Assign):
        kind = type(statement).__name__
        what = "an expression" if kind == "Expr" else f"a {kind.lower()} statement"
        raise Refusal(statement, f"{what} is not allowed here: {_ONLY}")
    if len(statement.targets) != 1 or not isinstance(statement.targets[0], ast.Name):
        raise Refusal(statement.targets[0], f"assign to one simple name: {_ONLY}")
    name = statement.targets[0].id
    if name.startswith("__"):
        raise Refusal(
            statement.targets[0], f"name {name} is not allowed: no names starting with __"
        )
    if name in FUNCTIONS:
        raise Refusal(
            statement.targets[0],
            f"{name} is a helper function; choose another name so the cell means the same "
            "in the notebook",
        )
    return name


def parse_assignments(
    source: str, *, step: str | None = None, limits: Limits = DEFAULT_LIMITS
) -> list[tuple[str, Expression]]:
    """Parse the body of a Set Variable cell into ``(name, expression)`` pairs.

    One or more ``name = expression`` statements; comments and blank lines are allowed.
    Error positions are lines and columns in ``source``.

    Raises:
        ExpressionError: anything else (with its position), or an expression that is not
            allowed.

    """
    where = Source(source, step=step)
    if len(source) > limits.max_source_length:
        raise ExpressionError(
            f"the cell is {len(source):,} characters long, "
            f"above max_source_length={limits.max_source_length:,}",
            expression=source[:200],
            step=step,
            limit="max_source_length",
        )
    try:
        module = ast.parse(source, mode="exec")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise where.error(source, syntax_refusal(exc, limits)) from None
    if not module.body:
        raise ExpressionError(f"the cell is empty: {_ONLY}", expression=source, step=step)
    parsed: list[tuple[str, Expression]] = []
    for statement in module.body:
        try:
            name = _target(statement)
        except Refusal as refusal:
            segment = ast.get_source_segment(source, statement) or source
            raise where.error(segment, refusal) from None
        value = statement.value  # type: ignore[attr-defined]  # an Assign, as checked
        text = ast.get_source_segment(source, value) or ""
        parsed.append((name, parse_node(value, text, where, limits)))
    return parsed


def run_assignments(
    source_or_parsed: str | list[tuple[str, Expression]],
    context: Mapping[str, Any],
    *,
    step: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """Evaluate a Set Variable cell; each expression sees the names assigned before it.

    Args:
        source_or_parsed: the cell body, or what :func:`parse_assignments` returned.
        context: the names available to the first expression.
        step: the step named in errors (when parsing ``source``).
        limits: applied to each expression separately.

    Returns:
        The assigned names and their values, in assignment order (a name assigned twice
        keeps its last value).

    Raises:
        ExpressionError: the first failing line, with its position in the cell.

    """
    parsed = (
        parse_assignments(source_or_parsed, step=step, limits=limits)
        if isinstance(source_or_parsed, str)
        else source_or_parsed
    )
    assigned: dict[str, Any] = {}
    scope: ChainMap[str, Any] = ChainMap(assigned, dict(context))
    for name, expression in parsed:
        assigned[name] = expression.evaluate(scope, limits)
    return assigned
