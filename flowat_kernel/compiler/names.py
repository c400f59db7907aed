"""Which names each top-level statement of a step defines and reads (``ast`` + ``symtable``).

Statements are classified as *code* (imports, ``def``, ``class``, lambdas assigned to a
name, and ``try``/``if`` blocks made only of those) or *data* (everything else). Code
travels to later steps as source; data travels as values.
"""

from __future__ import annotations

import ast
import builtins
import symtable
import textwrap
from dataclasses import dataclass

from flowat_kernel.compiler.flow import WalkCache, definition_reads, reads_before_assignment
from flowat_kernel.compiler.ipython_syntax import PythonText, to_python

__all__ = [
    "RUNTIME_NAMES",
    "Statement",
    "StepNames",
    "StepSyntaxError",
    "analyse_source",
    "analyse_step",
]

#: Names every step can read without defining them: builtins, plus what the step
#: runtime provides (``display`` prints a value's repr into the step log, ``flowat`` is
#: the FlowAt package, for ``flowat.secret(...)``; ``get_ipython`` runs the magics and
#: ``!`` commands of a step, as IPython's transformation of the cell calls it).
RUNTIME_NAMES: frozenset[str] = frozenset(dir(builtins)) | {
    "display",
    "get_ipython",
    "flowat",
    "__name__",
    "__file__",
}

_CODE_NODES = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_IMMEDIATE_SCOPES = {"listcomp", "setcomp", "dictcomp", "genexpr"}


class StepSyntaxError(ValueError):
    """The step body is not valid Python; ``line`` is 1-based within the body."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Statement:
    """One top-level statement of a step body.

    Attributes:
        source: the statement's exact text (dedented), used as prelude for later steps.
        line: 1-based first line within the body.
        kind: ``"code"`` or ``"data"``.
        defines: module-level names it binds.
        reads: names it reads when it runs.
        deferred_reads: names read only when a function or lambda it defines is called.
        side_defines: module-level names its functions assign through ``global``; they
            are data of the step once a function is called.

    """

    source: str
    line: int
    kind: str
    defines: frozenset[str]
    reads: frozenset[str]
    deferred_reads: frozenset[str]
    side_defines: frozenset[str] = frozenset()

    @property
    def all_reads(self) -> frozenset[str]:
        """Immediate and deferred reads together."""
        return self.reads | self.deferred_reads


def _is_code(node: ast.stmt) -> bool:
    if isinstance(node, _CODE_NODES):
        return True
    if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Lambda):
        return True
    if isinstance(node, ast.Try):
        blocks = [node.body, node.orelse, node.finalbody, *[h.body for h in node.handlers]]
        return all(_is_code(s) or isinstance(s, ast.Pass) for b in blocks for s in b)
    if isinstance(node, ast.If):
        return all(_is_code(s) or isinstance(s, ast.Pass) for s in [*node.body, *node.orelse])
    return False


def _symbols(top: symtable.SymbolTable) -> tuple[set[str], set[str], set[str], set[str]]:
    """Return (defines, immediate reads, deferred reads, globals set by functions)."""
    side: set[str] = set()
    defines: set[str] = set()
    reads: set[str] = set()
    deferred: set[str] = set()
    for sym in top.get_symbols():
        if sym.is_referenced():
            reads.add(sym.get_name())
        if sym.is_assigned() or sym.is_imported() or sym.is_namespace():
            defines.add(sym.get_name())
    pending: list[tuple[symtable.SymbolTable, bool]] = [(c, False) for c in top.get_children()]
    while pending:
        table, lazy = pending.pop()
        is_function = str(table.get_type()).lower().endswith("function")
        lazy = lazy or (is_function and table.get_name() not in _IMMEDIATE_SCOPES)
        for sym in table.get_symbols():
            if sym.is_declared_global() and sym.is_assigned():
                side.add(sym.get_name())
            elif sym.is_global() and sym.is_referenced():
                (deferred if lazy else reads).add(sym.get_name())
        pending.extend((child, lazy) for child in table.get_children())
    return defines, reads, deferred, side - defines


def _statement_source(lines: list[str], node: ast.stmt, shared: bool) -> str:
    if shared:
        return ast.unparse(node)
    decorators = getattr(node, "decorator_list", [])
    start = min([node.lineno, *(d.lineno for d in decorators)])
    end = node.end_lineno or node.lineno
    return textwrap.dedent("\n".join(lines[start - 1 : end]))


@dataclass(frozen=True)
class StepNames:
    """A step body's statements and what it reads from outside itself.

    Attributes:
        statements: the top-level statements, in order.
        required: names read where no path through the body has assigned them yet, with
            the body line of the first read: they must come from an earlier step or a
            parameter.
        optional: names some paths read before assigning them (see
            :mod:`flowat_kernel.compiler.flow`): inputs when an earlier step or a
            parameter defines them, not needed otherwise.

    """

    statements: list[Statement]
    required: dict[str, int]
    optional: dict[str, int]


def _parse(body: str) -> tuple[ast.Module, PythonText]:
    python = to_python(body)
    if python.tree is not None:
        return python.tree, python
    try:
        return ast.parse(python.text), python
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        line = python.original_line(line) if line else None
        if line is None and "\0" in body:  # a NUL character has no line of its own
            line = body[: body.find("\0")].count("\n") + 1
        message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        raise StepSyntaxError(f"syntax error: {message}", line) from exc
    except (RecursionError, MemoryError) as exc:
        raise StepSyntaxError(
            "syntax error: the code is nested too deeply for Python to read", None
        ) from exc


def analyse_step(body: str) -> StepNames:
    """Analyse a step body: its statements, and the names it reads from outside.

    The body may use IPython syntax (magics, ``!`` commands): it is transformed as
    IPython transforms a cell first (:mod:`flowat_kernel.compiler.ipython_syntax`);
    statement sources are the transformed text, lines are the user's.

    Raises:
        StepSyntaxError: the body is not valid Python, even as IPython reads it.

    """
    tree, python = _parse(body)
    lines = python.text.splitlines()
    line_use: dict[int, int] = {}
    for node in tree.body:
        for n in range(node.lineno, (node.end_lineno or node.lineno) + 1):
            line_use[n] = line_use.get(n, 0) + 1
    statements = []
    cache: WalkCache = {}
    for node in tree.body:
        span = range(node.lineno, (node.end_lineno or node.lineno) + 1)
        shared = any(line_use[n] > 1 for n in span)
        source = _statement_source(lines, node, shared)
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        try:
            table = symtable.symtable(source, "<step>", "exec")
        except SyntaxError as exc:
            raise StepSyntaxError(f"syntax error: {exc.msg}", python.original_line(first)) from exc
        defines, _, deferred, side = _symbols(table)
        if isinstance(node, _DEFINITIONS):  # the flow analysis needs what it reads: once
            cache[("reads", node)] = frozenset(definition_reads(table))
        found, magic_defines = reads_before_assignment([node], cache)
        reads = {r.name for r in found}
        statements.append(
            Statement(
                source=source,
                line=python.original_line(first),
                kind="code" if _is_code(node) else "data",
                defines=frozenset(defines | magic_defines),
                reads=frozenset(reads),
                deferred_reads=frozenset(deferred - reads),
                side_defines=frozenset(side - magic_defines),
            )
        )
    required: dict[str, int] = {}
    optional: dict[str, int] = {}
    for read in reads_before_assignment(tree.body, cache)[0]:
        line = python.original_line(read.line)
        if read.required and read.name not in required:
            required[read.name] = optional.pop(read.name, line)
        elif read.name not in required:
            optional.setdefault(read.name, line)
    return StepNames(statements, required, optional)


def analyse_source(body: str) -> list[Statement]:
    """Analyse a step body into its top-level statements, in order.

    Raises:
        StepSyntaxError: the body is not valid Python, even as IPython reads it.

    """
    return analyse_step(body).statements
