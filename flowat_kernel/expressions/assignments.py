"""Set Variable cells: ``name = expression`` lines, evaluated in order."""

from __future__ import annotations

import ast
import re
from collections import ChainMap
from collections.abc import Callable, Mapping
from typing import Any

from flowat_kernel.expressions.errors import ExpressionError, Refusal
from flowat_kernel.expressions.expression import Expression, parse_node, syntax_refusal
from flowat_kernel.expressions.functions import FUNCTIONS
from flowat_kernel.expressions.limits import DEFAULT_LIMITS, Limits, OperationMeter
from flowat_kernel.expressions.source import Source

__all__ = ["parse_assignments", "run_assignments"]

_ONLY = "a Set Variable cell holds only `name = expression` lines"
# Lines as the parser counts them (only \r\n, \r and \n end one), with their ends.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def _segments(source: str) -> Callable[[ast.AST], str]:
    """``ast.get_source_segment(source, node)`` without re-splitting ``source`` per call.

    The standard function splits the whole text in Python on every call: quadratic in a
    cell of many lines, and cells are parsed inside workflow code.
    """
    lines: list[str] = _LINE.findall(source)

    def segment(node: ast.AST) -> str:
        first: int = node.lineno - 1  # type: ignore[attr-defined]
        last: int = (node.end_lineno or node.lineno) - 1  # type: ignore[attr-defined]
        start: int = node.col_offset  # type: ignore[attr-defined]
        end: int | None = node.end_col_offset  # type: ignore[attr-defined]
        if first == last:
            return lines[first].encode()[start:end].decode()
        head = lines[first].encode()[start:].decode()
        tail = lines[last].encode()[:end].decode()
        return "".join([head, *lines[first + 1 : last], tail])

    return segment


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
    segment = _segments(source)
    for statement in module.body:
        try:
            name = _target(statement)
        except Refusal as refusal:
            raise where.error(segment(statement) or source, refusal) from None
        value = statement.value  # type: ignore[attr-defined]  # an Assign, as checked
        text = segment(value)
        parsed.append((name, parse_node(value, text, where, limits)))
    return parsed


def run_assignments(
    source_or_parsed: str | list[tuple[str, Expression]],
    context: Mapping[str, Any],
    *,
    step: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    meter: OperationMeter | None = None,
) -> dict[str, Any]:
    """Evaluate a Set Variable cell; each expression sees the names assigned before it.

    Args:
        source_or_parsed: the cell body, or what :func:`parse_assignments` returned.
        context: the names available to the first expression.
        step: the step named in errors (when parsing ``source``).
        limits: each line has ``max_operations`` and a result within ``max_length``;
            all lines together have ``max_total_operations``.
        meter: the shared operation count (a new one by default).

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
    if meter is None:
        meter = OperationMeter.for_limits(limits)
    assigned: dict[str, Any] = {}
    scope: ChainMap[str, Any] = ChainMap(assigned, dict(context))
    for name, expression in parsed:
        assigned[name] = expression.evaluate(scope, limits, meter=meter)
    return assigned
