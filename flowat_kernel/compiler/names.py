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

__all__ = ["RUNTIME_NAMES", "Statement", "StepSyntaxError", "analyse_source"]

#: Names every step can read without defining them: builtins, plus what the step
#: runtime provides (``display`` prints a value's repr into the step log, ``flowat`` is
#: the FlowAt package, for ``flowat.secret(...)``).
RUNTIME_NAMES: frozenset[str] = frozenset(dir(builtins)) | {
    "display",
    "flowat",
    "__name__",
    "__file__",
}

_CODE_NODES = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
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


def _walk_immediate(node: ast.AST) -> list[ast.AST]:
    """Nodes that run when ``node`` runs (function, lambda and class bodies excluded)."""
    found: list[ast.AST] = []
    pending = [node]
    while pending:
        current = pending.pop()
        found.append(current)
        if current is not node and isinstance(
            current, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef
        ):
            continue
        pending.extend(ast.iter_child_nodes(current))
    return found


def _flow_names(node: ast.stmt) -> tuple[set[str], set[str]]:
    """Names ``x += ...`` reads, and names bound by for/with/except/walrus targets."""
    augmented: set[str] = set()
    bound: set[str] = set()
    for child in _walk_immediate(node):
        if isinstance(child, ast.AugAssign) and isinstance(child.target, ast.Name):
            augmented.add(child.target.id)
        elif isinstance(child, ast.For | ast.AsyncFor):
            bound |= {n.id for n in ast.walk(child.target) if isinstance(n, ast.Name)}
        elif isinstance(child, ast.withitem) and child.optional_vars is not None:
            bound |= {n.id for n in ast.walk(child.optional_vars) if isinstance(n, ast.Name)}
        elif isinstance(child, ast.ExceptHandler) and child.name:
            bound.add(child.name)
        elif isinstance(child, ast.NamedExpr):
            bound.add(child.target.id)
    return augmented, bound


_COMPOUND = (
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.If,
    ast.With,
    ast.AsyncWith,
    ast.Try,
    ast.Match,
)


def _stored_before_read(node: ast.stmt) -> set[str]:
    """Names a compound statement assigns before it first reads them (in source order).

    ``for p in ps: r = f(p); out.append(r)`` reads ``r`` only after setting it, so ``r``
    is not an input of the step.
    """
    if not isinstance(node, _COMPOUND):
        return set()
    first_store: dict[str, tuple[int, int]] = {}
    first_load: dict[str, tuple[int, int]] = {}
    for child in _walk_immediate(node):
        if isinstance(child, ast.Assign | ast.AnnAssign):
            # The value is evaluated first: a target counts as set where the statement ends.
            done = (child.end_lineno or child.lineno, child.end_col_offset or 0)
            targets = child.targets if isinstance(child, ast.Assign) else [child.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name) and isinstance(name.ctx, ast.Store):
                        first_store[name.id] = min(first_store.get(name.id, done), done)
        elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load):
            where = (child.lineno, child.col_offset)
            first_load[child.id] = min(first_load.get(child.id, where), where)
    return {
        name
        for name, stored in first_store.items()
        if name in first_load and stored < first_load[name]
    }


def _symbols(source: str) -> tuple[set[str], set[str], set[str], set[str]]:
    """Return (defines, immediate reads, deferred reads, globals set by functions)."""
    top = symtable.symtable(source, "<step>", "exec")
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


def analyse_source(body: str) -> list[Statement]:
    """Analyse a step body into its top-level statements, in order.

    Raises:
        StepSyntaxError: the body is not valid Python.

    """
    try:
        tree = ast.parse(body)
    except SyntaxError as exc:
        hint = ""
        text = (exc.text or "").lstrip()
        if text.startswith(("%", "!")):
            hint = (
                " (step cells must be plain Python: magics and ! commands run only in the kernel)"
            )
        raise StepSyntaxError(f"syntax error: {exc.msg}{hint}", exc.lineno) from exc
    lines = body.splitlines()
    line_use: dict[int, int] = {}
    for node in tree.body:
        for n in range(node.lineno, (node.end_lineno or node.lineno) + 1):
            line_use[n] = line_use.get(n, 0) + 1
    statements = []
    for node in tree.body:
        span = range(node.lineno, (node.end_lineno or node.lineno) + 1)
        shared = any(line_use[n] > 1 for n in span)
        source = _statement_source(lines, node, shared)
        defines, reads, deferred, side = _symbols(source)
        augmented, bound = _flow_names(node)
        bound |= _stored_before_read(node)
        reads = (reads | augmented) - (bound - augmented)
        statements.append(
            Statement(
                source=source,
                line=min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]),
                kind="code" if _is_code(node) else "data",
                defines=frozenset(defines),
                reads=frozenset(reads),
                deferred_reads=frozenset(deferred - reads),
                side_defines=frozenset(side),
            )
        )
    return statements
