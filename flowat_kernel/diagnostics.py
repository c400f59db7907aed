"""Compile diagnostics: small records that say where a problem is and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Diagnostic"]


@dataclass(frozen=True)
class Diagnostic:
    """One compile problem.

    Attributes:
        code: a stable short name (``cycle``, ``undefined-name``, ``duplicate-step``,
            ``syntax-error``, ``unknown-option``, ``bad-option``, ``bad-parameter``,
            ``no-steps``).
        message: what is wrong and what to do.
        step: the step concerned, if any.
        cell: 1-based position of the cell in the notebook, if known.
        line: 1-based line in that cell (the ``%%flowat step`` line is line 1).

    """

    code: str
    message: str
    step: str | None = None
    cell: int | None = None
    line: int | None = None

    def describe(self) -> str:
        """One line for people: location first, then the message."""
        where = []
        if self.step:
            where.append(f"step {self.step!r}")
        if self.cell is not None:
            where.append(f"cell {self.cell}")
        if self.line is not None:
            where.append(f"line {self.line}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message
