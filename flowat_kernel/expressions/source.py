"""Positions: from AST nodes (UTF-8 byte columns) to the line and column the user sees."""

from __future__ import annotations

import ast

from flowat_kernel.expressions.errors import ExpressionError, Refusal

__all__ = ["Source"]


class Source:
    """The text an expression was parsed from, to report positions in it.

    Args:
        text: the original text (a whole cell for Set Variable cells).
        line_offset: lines removed before the parsed text started.
        column_offset: characters removed before the parsed text on its first line.
        step: the step name for error messages.

    """

    __slots__ = ("_lines", "column_offset", "line_offset", "step", "text")

    def __init__(
        self, text: str, *, line_offset: int = 0, column_offset: int = 0, step: str | None = None
    ) -> None:
        self.text = text
        self.line_offset = line_offset
        self.column_offset = column_offset
        self.step = step
        self._lines = text.splitlines() or [""]

    def _line_text(self, line: int) -> str:
        return self._lines[line - 1] if 0 < line <= len(self._lines) else ""

    def position(self, lineno: int, byte_col: int) -> tuple[int, int]:
        """Map a parsed (1-based line, 0-based UTF-8 byte column) to 1-based (line, char column)."""
        line = lineno + self.line_offset
        text = self._line_text(line)
        offset = self.column_offset if lineno == 1 else 0
        prefix = text[offset:].encode("utf-8")[:byte_col].decode("utf-8", errors="ignore")
        return line, offset + len(prefix) + 1

    def node_position(self, node: ast.AST | None) -> tuple[int, int]:
        """The position of ``node``'s first character (line 1, column 1 without one)."""
        lineno = getattr(node, "lineno", None)
        col = getattr(node, "col_offset", None)
        if lineno is None or col is None:
            return 1 + self.line_offset, 1 + self.column_offset
        return self.position(lineno, col)

    def operator_position(self, left: ast.AST, right: ast.AST, symbol: str) -> tuple[int, int]:
        """The position of the operator ``symbol`` between two operand nodes."""
        end_line = getattr(left, "end_lineno", None)
        end_col = getattr(left, "end_col_offset", None)
        if end_line is None or end_col is None:
            return self.node_position(left)
        line_no = end_line
        col = end_col
        last_line = getattr(right, "lineno", end_line)
        while line_no <= last_line:
            offset = self.column_offset if line_no == 1 else 0
            raw = self._line_text(line_no + self.line_offset)[offset:].encode("utf-8")
            found = raw.find(symbol.encode("utf-8"), col)
            if found >= 0:
                return self.position(line_no, found)
            line_no += 1
            col = 0
        return self.node_position(right)

    def error(self, text: str, refusal: Refusal) -> ExpressionError:
        """Turn a :class:`Refusal` into an :class:`ExpressionError` for expression ``text``."""
        if refusal.char_position is not None:
            lineno, char = refusal.char_position
            line = lineno + self.line_offset
            column = (self.column_offset if lineno == 1 else 0) + char + 1
        elif refusal.between is not None:
            line, column = self.operator_position(*refusal.between)
        else:
            line, column = self.node_position(refusal.node)
        return ExpressionError(
            refusal.reason,
            expression=text,
            step=self.step,
            line=line,
            column=column,
            limit=refusal.limit,
        )
