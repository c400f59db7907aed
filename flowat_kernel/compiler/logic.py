"""Expressions on a step: checked at compile time, and the names they read.

Logic steps (``--if``, ``--switch``, ``--set``, ``--filter``) hold expressions in their
body; any step can carry ``--when``, ``--foreach``, ``--in`` and ``--out`` expressions.
All of them are parsed here with the sandboxed expression language, so a mistake is
reported at publish time with its step, cell and position, and the names they read
become the step's dependencies like the names its code reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flowat_kernel.compiler.header import StepHeader
from flowat_kernel.diagnostics import Diagnostic
from flowat_kernel.spec import FieldMapping
from flowat_kernel.spec.model import expression_body

__all__ = [
    "ITEM_NAMES",
    "RUN_NAME",
    "StepExpressions",
    "check_expressions",
    "mappings",
]

#: Names a ``--foreach`` step's code and a ``--filter`` predicate see for each item.
ITEM_NAMES: frozenset[str] = frozenset({"item", "index"})
#: The run's metadata in expressions: ``run["id"]``, ``run["workflow"]``, ``run["version"]``.
RUN_NAME = "run"


@dataclass
class StepExpressions:
    """What a step's expressions read, and the names its own expressions bind."""

    #: name -> body line (0 for the magic line) of the first read, in order.
    reads: dict[str, int] = field(default_factory=dict)
    #: names the engine binds for the step's code (``item``, ``index``, ``--in`` names).
    bound: set[str] = field(default_factory=set)
    #: names that are expression helpers, never dependencies.
    helpers: frozenset[str] = frozenset()

    def add(self, names: frozenset[str], line: int, exclude: set[str] | frozenset[str]) -> None:
        """Note ``names`` read on ``line``, except those in ``exclude``."""
        for name in sorted(names):
            if name not in exclude and name not in self.reads:
                self.reads[name] = line


def _where(header: StepHeader, what: str) -> str:
    return f"{what} of step {header.name!r}"


def _has_expressions(header: StepHeader) -> bool:
    """Whether the step carries any expression :func:`check_expressions` looks at."""
    return bool(
        header.when is not None
        or header.foreach is not None
        or header.filter_items is not None
        or header.map_in
        or header.map_out
        or header.logic in ("if", "switch", "filter", "set")
    )


def check_expressions(
    header: StepHeader, body: str, cell: int, problems: list[Diagnostic], own: set[str]
) -> StepExpressions:
    """Parse every expression of one step; report problems; collect what they read.

    ``body`` is the cell body without the magic line and ``own`` the names the step
    itself defines. Reads of the step's own body are collected only for logic kinds
    (code bodies are analysed as Python elsewhere). The expression language is imported
    only for a step that has expressions.
    """
    if not _has_expressions(header):
        return StepExpressions()
    from flowat_kernel.expressions import FUNCTIONS, ExpressionError, parse, parse_assignments

    found = StepExpressions(helpers=frozenset(FUNCTIONS))
    if header.foreach is not None:
        found.bound |= ITEM_NAMES
    found.bound |= {name for name, _ in header.map_in}

    def expression(text: str, what: str, line: int, exclude: set[str] | frozenset[str]) -> None:
        try:
            parsed = parse(text, step=header.name)
        except ExpressionError as exc:
            problems.append(
                Diagnostic(
                    "expression-error",
                    f"{_where(header, what)}: {exc.reason} (at column {exc.column} of `{text}`)",
                    step=header.name,
                    cell=cell,
                    line=line + 1,
                )
            )
            return
        found.add(parsed.names, line, exclude | found.helpers)

    none: frozenset[str] = frozenset()
    if header.when is not None:
        expression(header.when, "--when", 0, none)
    if header.foreach is not None:
        expression(header.foreach, "--foreach", 0, none)
    if header.filter_items is not None:
        expression(header.filter_items, "--filter", 0, none)
    for name, text in header.map_in:
        expression(text, f"--in {name}", 0, none)
    logic = header.logic
    if logic in ("if", "switch", "filter"):
        text = expression_body(body)
        if not text:
            problems.append(
                Diagnostic(
                    "expression-error",
                    f"an --{logic} step's cell holds one expression"
                    + (" over `item`" if logic == "filter" else "")
                    + "; this one is empty",
                    step=header.name,
                    cell=cell,
                    line=1,
                )
            )
        else:
            expression(text, "the expression", 1, ITEM_NAMES if logic == "filter" else none)
    elif logic == "set":
        try:
            assigned: set[str] = set()
            for target, parsed in parse_assignments(body, step=header.name):
                found.add(parsed.names, 1, assigned | found.helpers)
                assigned.add(target)
        except ExpressionError as exc:
            problems.append(
                Diagnostic(
                    "expression-error",
                    f"{_where(header, 'the assignments')}: {exc.reason}",
                    step=header.name,
                    cell=cell,
                    line=exc.line + 1,
                )
            )
    if header.map_out:
        for name, text in header.map_out:
            # --out reads the step's own exports first, then the context.
            expression(text, f"--out {name}", 0, own)
    return found


def mappings(pairs: tuple[tuple[str, str], ...]) -> tuple[FieldMapping, ...]:
    """``--in`` / ``--out`` pairs as spec mappings."""
    return tuple(FieldMapping(name=name, expression=text) for name, text in pairs)
