"""``ExpressionError``, and the internal ``Refusal`` that carries the offending node.

The checker and the evaluator raise :class:`Refusal` with the AST node at fault;
:class:`~flowat_kernel.expressions.source.Source` turns it into an
:class:`ExpressionError` with a 1-based line and column in the text the user wrote.
"""

from __future__ import annotations

import ast
from typing import Any

from flowat_kernel.errors import FlowAtError

__all__ = ["ExpressionError", "Refusal"]

_SHOWN_CHARS = 120


class ExpressionError(FlowAtError):
    """An expression is invalid, refused, or failed while it was evaluated.

    The message names the step (when known), the expression and the position, e.g.
    ``step 'route': expression `total >> 2` at line 1, column 7: operator >> is not
    allowed``.

    Attributes:
        reason: what went wrong, and what to do instead.
        expression: the expression's text.
        step: the step the expression belongs to, or ``None``.
        line: 1-based line of the offending node (in the cell, for Set Variable cells).
        column: 1-based column (characters, not bytes) of the offending node.
        limit: the ``Limits`` field that was exceeded, or ``None``.

    A usage error (``usage = True``): the user fixes the expression as the reason says.

    """

    usage = True

    def __init__(
        self,
        reason: str,
        *,
        expression: str,
        step: str | None = None,
        line: int = 1,
        column: int = 1,
        limit: str | None = None,
    ) -> None:
        self.reason = reason
        self.expression = expression
        self.step = step
        self.line = line
        self.column = column
        self.limit = limit
        super().__init__(self.describe())

    def describe(self) -> str:
        """The one-line message: step, expression, position, reason."""
        shown = self.expression.strip()
        if "\n" in shown:
            shown = " ".join(shown.split())
        if len(shown) > _SHOWN_CHARS:
            shown = shown[: _SHOWN_CHARS - 3] + "..."
        where = f"step '{self.step}': " if self.step is not None else ""
        return (
            f"{where}expression `{shown}` at line {self.line}, column {self.column}: {self.reason}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild,
            (self.reason, self.expression, self.step, self.line, self.column, self.limit),
        )


def _rebuild(
    reason: str, expression: str, step: str | None, line: int, column: int, limit: str | None
) -> ExpressionError:
    return ExpressionError(
        reason, expression=expression, step=step, line=line, column=column, limit=limit
    )


class Refusal(Exception):
    """Internal: the node at fault and why; becomes an :class:`ExpressionError`.

    ``between`` points at an operator instead of the node's start: the operator's
    symbol and the two operands it sits between. Syntax errors have no node, only
    ``char_position``.
    """

    def __init__(
        self,
        node: ast.AST | None,
        reason: str,
        *,
        between: tuple[ast.AST, ast.AST, str] | None = None,
        limit: str | None = None,
        missing: bool = False,
        char_position: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(reason)
        #: (1-based line, 0-based character offset) in the parsed text, for syntax errors
        self.char_position = char_position
        self.node = node
        self.reason = reason
        self.between = between
        self.limit = limit
        #: a missing name, key or index: ``default(x, fallback)`` recovers from these
        self.missing = missing
