"""``parse`` and ``Expression``: check once at publish time, evaluate many times."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from flowat_kernel.expressions.checks import check_expression, expression_depth
from flowat_kernel.expressions.errors import ExpressionError, Refusal
from flowat_kernel.expressions.evaluator import Evaluator
from flowat_kernel.expressions.limits import (
    DEFAULT_LIMITS,
    Limits,
    OperationMeter,
    reset_current_limits,
    set_current_limits,
)
from flowat_kernel.expressions.source import Source

__all__ = ["Expression", "evaluate", "parse", "parse_node", "syntax_refusal"]

_STATEMENTS: dict[type[ast.stmt], str] = {
    ast.Import: "import statements are not allowed",
    ast.ImportFrom: "import statements are not allowed",
    ast.Assign: "assignments are not allowed in an expression (use a Set Variable step)",
    ast.AugAssign: "assignments are not allowed in an expression (use a Set Variable step)",
    ast.AnnAssign: "assignments are not allowed in an expression (use a Set Variable step)",
    ast.FunctionDef: "def is not allowed: expressions cannot define functions",
    ast.ClassDef: "class is not allowed: expressions cannot define classes",
}


class Expression:
    """A parsed and statically checked expression.

    Build one with :func:`parse`. Evaluating it never changes it, so one instance can be
    evaluated many times, from several threads.

    Attributes:
        text: the expression as written.
        names: the free names it reads from the context (comprehension variables and
            helper functions in call position are not included).

    """

    __slots__ = ("_depth", "_node", "_source", "names", "text")

    def __init__(
        self, text: str, node: ast.expr, names: frozenset[str], depth: int, source: Source
    ):
        """Use :func:`parse`; this constructor does not check ``node``."""
        self.text = text
        self.names = names
        self._node = node
        self._depth = depth
        self._source = source

    @property
    def step(self) -> str | None:
        """The step named in this expression's errors."""
        return self._source.step

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def evaluate(
        self,
        context: Mapping[str, Any],
        limits: Limits = DEFAULT_LIMITS,
        *,
        meter: OperationMeter | None = None,
    ) -> Any:
        """Evaluate against ``context`` (names to plain data) within ``limits``.

        Args:
            context: the names the expression may read.
            limits: the bounds of this evaluation.
            meter: shared by several evaluations (a logic step's expressions), which
                then have ``limits.max_total_operations`` together; this evaluation's
                operations are added to it.

        Returns:
            Plain data: None, bool, int, float, str, or lists, tuples, sets and dicts of
            those, of a logical size within ``max_length``.

        Raises:
            ExpressionError: on any failure (unknown name, type error, missing key,
                exceeded limit, ...), naming the step, the expression and the position.

        """
        if self._depth > limits.max_depth:
            raise self._source.error(
                self.text,
                Refusal(
                    self._node,
                    f"the expression is nested {self._depth} levels deep, "
                    f"above max_depth={limits.max_depth}",
                    limit="max_depth",
                ),
            )
        evaluator = Evaluator(context, limits, meter)
        token = set_current_limits(limits, evaluator)
        try:
            return evaluator.run(self._node)
        except Refusal as refusal:
            raise self._source.error(self.text, refusal) from None
        finally:
            reset_current_limits(token)


def syntax_refusal(
    exc: SyntaxError | ValueError | MemoryError | RecursionError, limits: Limits
) -> Refusal:
    """A parser failure as a :class:`Refusal` (nesting failures name ``max_depth``)."""
    if isinstance(exc, MemoryError | RecursionError) or "too many nested" in str(exc):
        return Refusal(
            None,
            f"the expression is nested too deeply (above max_depth={limits.max_depth})",
            limit="max_depth",
        )
    if isinstance(exc, SyntaxError):
        lineno = exc.lineno or 1
        if exc.offset:
            char = exc.offset - 1
        else:  # the parser reports "unexpected end" at offset 0: point at the end
            lines = (exc.text or "").splitlines() or [""]
            char = len(lines[-1])
        reason = exc.msg if exc.msg.startswith("invalid syntax") else f"invalid syntax: {exc.msg}"
        return Refusal(None, reason, char_position=(lineno, char))
    return Refusal(None, f"invalid expression: {exc}")


def parse_node(node: ast.expr, text: str, source: Source, limits: Limits) -> Expression:
    """Check an already parsed expression node and wrap it as an :class:`Expression`."""
    depth = expression_depth(node)
    try:
        if depth > limits.max_depth:
            raise Refusal(
                node,
                f"the expression is nested {depth} levels deep, above max_depth={limits.max_depth}",
                limit="max_depth",
            )
        names = check_expression(node)
    except Refusal as refusal:
        raise source.error(text, refusal) from None
    return Expression(text, node, names, depth, source)


def _statement_refusal(text: str) -> Refusal | None:
    try:
        module = ast.parse(text, mode="exec")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    for statement in module.body:
        if not isinstance(statement, ast.Expr):
            reason = _STATEMENTS.get(
                type(statement),
                f"{type(statement).__name__.lower()} statements are not allowed: "
                "an expression computes one value",
            )
            return Refusal(statement, reason)
    if len(module.body) > 1:
        return Refusal(module.body[1], "only one expression is allowed")
    return None


def parse(text: str, *, step: str | None = None, limits: Limits = DEFAULT_LIMITS) -> Expression:
    """Parse and check an expression (at publish time), without evaluating it.

    Args:
        text: the expression, in Python syntax, e.g. ``orders[0]["total"] * 1.2``.
        step: the step it belongs to, named in error messages.
        limits: ``max_source_length`` bounds the text, ``max_depth`` the nesting.

    Raises:
        ExpressionError: a syntax error or a construct that is not allowed.

    """
    if not isinstance(text, str):
        raise TypeError(f"an expression is a string, not {type(text).__name__}")
    stripped = text.lstrip()
    removed = text[: len(text) - len(stripped)]
    line_offset = removed.count("\n")
    column_offset = len(removed) - (removed.rfind("\n") + 1)
    source = Source(text, line_offset=line_offset, column_offset=column_offset, step=step)
    if not stripped.strip():
        raise ExpressionError("the expression is empty", expression=text, step=step)
    if len(text) > limits.max_source_length:
        raise ExpressionError(
            f"the expression is {len(text):,} characters long, "
            f"above max_source_length={limits.max_source_length:,}",
            expression=text[:200],
            step=step,
            limit="max_source_length",
        )
    try:
        tree = ast.parse(stripped, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        refusal = None
        if isinstance(exc, SyntaxError) and "too many nested" not in str(exc):
            refusal = _statement_refusal(stripped)
        raise source.error(text, refusal or syntax_refusal(exc, limits)) from None
    return parse_node(tree.body, text, source, limits)


def evaluate(
    text: str,
    context: Mapping[str, Any],
    *,
    step: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Any:
    """Parse and evaluate ``text`` against ``context`` in one call.

    Prefer :func:`parse` once and :meth:`Expression.evaluate` many times when the same
    expression runs repeatedly.

    Raises:
        ExpressionError: on any failure, naming the step, the expression and the position.

    """
    return parse(text, step=step, limits=limits).evaluate(context, limits)
