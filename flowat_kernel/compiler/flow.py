"""Which names a step body reads before it has assigned them (definite assignment).

The body runs top to bottom as it does in a kernel cell. At every read of a module-level
name the analysis knows which names are *surely* assigned by then (on every path) and
which *may* be (on some path: one branch of an ``if``, a loop that may run zero times,
a ``try`` body that may have stopped early). A read is:

- not an input when the name is surely assigned there;
- a *required* read when no path assigns it before: the step needs the name from an
  earlier step or a parameter, and reading a name nothing defines is a compile error;
- an *optional* read when some paths assign it and some do not, when it is read inside
  a ``try`` whose handler catches ``NameError`` (or everything), or when IPython expands
  it in a ``!`` command or a line magic: the step takes the name as an input if an
  earlier step or a parameter defines it (so the path that does not assign it sees the
  same value as in the kernel); otherwise that path fails as it would in a fresh kernel.

Function, lambda and class method bodies run later; their reads are the *deferred*
reads of :mod:`flowat_kernel.compiler.names`. A ``with`` block is taken to run to its
end unless its context manager is ``suppress(...)``.
"""

from __future__ import annotations

import ast
import symtable
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flowat_kernel.compiler.ipython_syntax import (
    MagicCall,
    code_of,
    expanded_names,
    magic_call,
    to_python,
)

__all__ = ["Read", "WalkCache", "definition_reads", "reads_before_assignment"]


@dataclass(frozen=True)
class Read:
    """A read of a name that may be unassigned: ``line`` is 1-based in the analysed text."""

    name: str
    line: int
    required: bool


@dataclass(frozen=True)
class _State:
    sure: frozenset[str] = frozenset()
    maybe: frozenset[str] = frozenset()

    def store(self, names: Iterable[str]) -> _State:
        added = frozenset(names)
        return _State(self.sure | added, self.maybe | added)


def _join(*states: _State | None) -> _State | None:
    present = [s for s in states if s is not None]
    if not present:
        return None
    sure = frozenset.intersection(*(s.sure for s in present))
    maybe = frozenset.union(*(s.maybe for s in present))
    return _State(sure, maybe)


#: Expression nodes with no child that reads a name.
_LEAVES = (ast.Constant, ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)


@dataclass
class _Loop:
    breaks: list[_State] = field(default_factory=list)


def _stores(nodes: Iterable[ast.AST]) -> set[str]:
    """Module-level names a block may assign (function and class bodies excluded)."""
    found: set[str] = set()
    pending = list(nodes)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            found.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            found |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(node.name)
            continue
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            found.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            found.add(node.rest)
        elif isinstance(node, ast.Lambda):
            continue
        pending.extend(ast.iter_child_nodes(node))
    return found


def _removed(nodes: Iterable[ast.AST]) -> set[str]:
    """Module-level names a block may unassign: ``del name`` and ``except ... as name``."""
    found: set[str] = set()
    for node in nodes:
        for child in ast.walk(node):
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Del):
                found.add(child.id)
            elif isinstance(child, ast.ExceptHandler) and child.name:
                found.add(child.name)
    return found


def _catches_name_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(k, ast.Name) and k.id in ("NameError", "BaseException") for k in kinds)


def _is_suppress(item: ast.withitem) -> bool:
    call = item.context_expr
    if not isinstance(call, ast.Call):
        return False
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name == "suppress"


def _definition_reads(node: ast.stmt) -> set[str]:
    """Names a ``def`` or ``class`` statement reads when it runs (see below)."""
    return definition_reads(symtable.symtable(ast.unparse(node), "<step>", "exec"))


def definition_reads(top: symtable.SymbolTable) -> set[str]:
    """Names a ``def`` or ``class`` statement reads when it runs.

    Decorators, defaults, annotations, bases and the class body, from Python's own
    symbol table of the statement alone (``top``).
    """
    reads = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    pending = [(c, False) for c in top.get_children()]
    while pending:
        table, lazy = pending.pop()
        kind = str(table.get_type()).lower()
        lazy = lazy or (
            kind.endswith("function")
            and table.get_name() not in {"listcomp", "setcomp", "dictcomp", "genexpr"}
        )
        if not lazy:
            symbols = table.get_symbols()
            reads |= {s.get_name() for s in symbols if s.is_global() and s.is_referenced()}
        pending.extend((child, lazy) for child in table.get_children())
    return reads


#: Names worked out once per node and shared by the walks over one tree: what a ``def``
#: or ``class`` reads (``"reads"``), what a loop or ``try`` may assign (``"stores"``,
#: ``"every"``) and what a loop may unassign (``"removed"``).
WalkCache = dict[tuple[str, ast.AST], frozenset[str]]


class _Walker:
    def __init__(self, cache: WalkCache | None = None) -> None:
        self.cache: WalkCache = {} if cache is None else cache
        self.reads: list[Read] = []
        self.optional = 0
        self.hidden: list[frozenset[str]] = []
        self.loops: list[_Loop] = []
        self.at_line: int | None = None
        #: names assigned by code inside magics (``%time x = f()``), which Python's
        #: symbol table cannot see in the transformed text.
        self.defined: set[str] = set()

    # -- reads -------------------------------------------------------------------------

    def read(self, name: str, line: int, state: _State, optional: bool = False) -> None:
        if name in state.sure or any(name in h for h in self.hidden):
            return
        required = name not in state.maybe and not self.optional and not optional
        self.reads.append(Read(name, self.at_line or line, required))

    # -- statements --------------------------------------------------------------------

    def block(self, body: Iterable[ast.stmt], state: _State | None) -> _State | None:
        for node in body:
            if state is None:
                return None
            state = self.stmt(node, state)
        return state

    def stmt(self, node: ast.stmt, state: _State) -> _State | None:
        if isinstance(node, ast.Expr):
            return self.expr(node.value, state)
        if isinstance(node, ast.Assign):
            state = self.expr(node.value, state)
            for target in node.targets:
                state = self.target(target, state)
            return state
        if isinstance(node, ast.AugAssign):
            if isinstance(node.target, ast.Name):
                self.read(node.target.id, node.lineno, state)
            else:
                state = self.target(node.target, state)
            return self.target(node.target, self.expr(node.value, state))
        if isinstance(node, ast.AnnAssign):
            if node.value is not None:
                state = self.expr(node.value, state)
            state = self.expr(node.annotation, state)
            if node.value is None and isinstance(node.target, ast.Name):
                return state
            return self.target(node.target, state)
        if isinstance(node, ast.Import | ast.ImportFrom):
            return state.store(
                (a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"
            )
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            reads = self._once("reads", node, lambda: _definition_reads(node))
            for name in sorted(reads):
                self.read(name, node.lineno, state)
            return state.store([node.name])
        if isinstance(node, ast.If):
            state = self.expr(node.test, state)
            return _join(self.block(node.body, state), self.block(node.orelse, state))
        if isinstance(node, ast.For | ast.AsyncFor):
            return self.for_loop(node, self.expr(node.iter, state))
        if isinstance(node, ast.While):
            return self.while_loop(node, state)
        if isinstance(node, ast.With | ast.AsyncWith):
            return self.with_block(node, state)
        if isinstance(node, ast.Try | ast.TryStar):
            return self.try_block(node, state)
        if isinstance(node, ast.Match):
            return self.match(node, state)
        if isinstance(node, ast.Delete):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.read(target.id, node.lineno, state)
                    state = _State(state.sure - {target.id}, state.maybe)
                else:
                    state = self.expr(target, state)
            return state
        if isinstance(node, ast.Break):
            if self.loops:
                self.loops[-1].breaks.append(state)
            return None
        if isinstance(node, ast.Continue):  # the loop's head already allows for it
            return None
        if isinstance(node, ast.Return | ast.Raise):
            for child in ast.iter_child_nodes(node):
                state = self.expr(child, state)
            return None
        for child in ast.iter_child_nodes(node):  # assert, global, pass ...
            if isinstance(child, ast.expr):
                state = self.expr(child, state)
        return state

    def _once(self, kind: str, node: ast.AST, work: Callable[[], set[str]]) -> frozenset[str]:
        """``work()``, worked out once for ``node`` over every walk sharing the cache."""
        found = self.cache.get((kind, node))
        if found is None:
            found = self.cache[(kind, node)] = frozenset(work())
        return found

    def _loop_head(self, loop: ast.stmt, entry: _State, parts: list[ast.AST]) -> _State:
        """The state at a loop's head: its entry joined with the end of any iteration.

        An iteration may assign what the loop assigns anywhere, and unassigns only what
        it deletes (``del``, ``except ... as name``).
        """
        removed = self._once("removed", loop, lambda: _removed(parts))
        return _State(
            entry.sure - removed, entry.maybe | self._once("stores", loop, lambda: _stores(parts))
        )

    def for_loop(self, node: ast.For | ast.AsyncFor, entry: _State) -> _State | None:
        head = self._loop_head(node, entry, [node.target, *node.body])
        frame = _Loop()
        self.loops.append(frame)
        try:
            self.block(node.body, self.target(node.target, head))
        finally:
            self.loops.pop()
        return _join(self.block(node.orelse, head), *frame.breaks)

    def while_loop(self, node: ast.While, entry: _State) -> _State | None:
        endless = isinstance(node.test, ast.Constant) and bool(node.test.value)
        head = self._loop_head(node, entry, [node.test, *node.body])
        tested = self.expr(node.test, head)
        frame = _Loop()
        self.loops.append(frame)
        try:
            self.block(node.body, tested)
        finally:
            self.loops.pop()
        after = None if endless else self.block(node.orelse, tested)
        return _join(after, *frame.breaks)

    def with_block(self, node: ast.With | ast.AsyncWith, state: _State) -> _State | None:
        for item in node.items:
            state = self.expr(item.context_expr, state)
            if item.optional_vars is not None:
                state = self.target(item.optional_vars, state)
        out = self.block(node.body, state)
        if any(_is_suppress(item) for item in node.items):
            return _join(out, _State(state.sure, state.maybe | _stores(node.body)))
        return out

    def try_block(self, node: ast.Try | ast.TryStar, entry: _State) -> _State | None:
        guarded = any(_catches_name_error(h) for h in node.handlers)
        self.optional += guarded
        try:
            body_out = self.block(node.body, entry)
        finally:
            self.optional -= guarded
        anywhere = _State(
            entry.sure, entry.maybe | self._once("stores", node, lambda: _stores(node.body))
        )
        outs: list[_State | None] = []
        for handler in node.handlers:
            state = anywhere
            if handler.type is not None:
                state = self.expr(handler.type, state)
            if handler.name:
                state = state.store([handler.name])
            out = self.block(handler.body, state)
            if out is not None and handler.name:  # Python deletes the name after the block
                out = _State(out.sure - {handler.name}, out.maybe)
            outs.append(out)
        normal = _join(self.block(node.orelse, body_out) if body_out else None, *outs)
        if not node.finalbody:
            return normal
        # The finally block also runs after an exception anywhere above: read it from
        # there; what it surely assigns is assigned after the normal path too.
        every = self._once(
            "every", node, lambda: _stores([*node.body, *node.orelse, *node.handlers])
        )
        wide = _State(entry.sure, entry.maybe | every)
        out = self.block(node.finalbody, wide)
        if normal is None or out is None:
            return None
        return _State(normal.sure | (out.sure - wide.sure), normal.maybe | out.maybe)

    def match(self, node: ast.Match, state: _State) -> _State | None:
        state = self.expr(node.subject, state)
        outs: list[_State | None] = []
        for case in node.cases:
            matched = self.pattern(case.pattern, state)
            if case.guard is not None:
                matched = self.expr(case.guard, matched)
            outs.append(self.block(case.body, matched))
            state = _join(state, matched) or state
        last = node.cases[-1] if node.cases else None
        if not (
            last is not None
            and last.guard is None
            and isinstance(last.pattern, ast.MatchAs)
            and last.pattern.pattern is None
        ):
            outs.append(state)
        return _join(*outs)

    def pattern(self, node: ast.pattern, state: _State) -> _State:
        if isinstance(node, ast.MatchValue):
            return self.expr(node.value, state)
        if isinstance(node, ast.MatchOr):
            joined = _join(*(self.pattern(p, state) for p in node.patterns))
            return joined or state
        if isinstance(node, ast.MatchClass):
            state = self.expr(node.cls, state)
        if isinstance(node, ast.MatchMapping):
            for key in node.keys:
                state = self.expr(key, state)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.pattern):
                state = self.pattern(child, state)
        names = [getattr(node, "name", None), getattr(node, "rest", None)]
        return state.store(n for n in names if n)

    # -- expressions -------------------------------------------------------------------

    def target(self, node: ast.expr, state: _State) -> _State:
        if isinstance(node, ast.Name):
            return state.store([node.id])
        if isinstance(node, ast.Tuple | ast.List):
            for element in node.elts:
                state = self.target(element, state)
            return state
        if isinstance(node, ast.Starred):
            return self.target(node.value, state)
        return self.expr(node, state)  # attribute or item: reads the object and the key

    def expr(self, node: ast.AST, state: _State) -> _State:
        if isinstance(node, _LEAVES):  # constants, contexts and operators: nothing to read
            return state
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                self.read(node.id, node.lineno, state)
            return state
        if isinstance(node, ast.NamedExpr):
            return self.expr(node.value, state).store([node.target.id])
        if isinstance(node, ast.BoolOp):
            exits = [state := self.expr(node.values[0], state)]
            for value in node.values[1:]:
                exits.append(state := self.expr(value, state))
            return _join(*exits) or state
        if isinstance(node, ast.IfExp):
            state = self.expr(node.test, state)
            return _join(self.expr(node.body, state), self.expr(node.orelse, state)) or state
        if isinstance(node, ast.Lambda):
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                if default is not None:
                    state = self.expr(default, state)
            return state
        if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            return self.comprehension(node, state)
        if isinstance(node, ast.Call):
            call = magic_call(node)
            if call is not None:
                return self.magic(node, call, state)
        for child in ast.iter_child_nodes(node):
            state = self.expr(child, state)
        return state

    def comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp, state: _State
    ) -> _State:
        state = self.expr(node.generators[0].iter, state)
        local = frozenset(n for g in node.generators for n in _stores([g.target]))
        self.hidden.append(local)
        try:
            inner = state
            for index, generator in enumerate(node.generators):
                if index:
                    inner = self.expr(generator.iter, inner)
                for condition in generator.ifs:
                    inner = self.expr(condition, inner)
            parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
            for part in parts:
                inner = self.expr(part, inner)
        finally:
            self.hidden.pop()
        visible = _State(inner.sure - local, inner.maybe - local)
        return _join(state, visible) or state

    def magic(self, node: ast.Call, call: MagicCall, state: _State) -> _State:
        for name in sorted(expanded_names(call)):
            self.read(name, node.lineno, state, optional=True)
        outer, self.at_line = self.at_line, self.at_line or node.lineno
        own = state  # %timeit's namespace: its setup's names are seen by its body
        try:
            for part in code_of(call):
                python = to_python(part.code)
                try:
                    tree = python.tree or ast.parse(python.text)
                except (SyntaxError, ValueError):
                    continue  # IPython reports it when the step runs, as in the kernel
                after = self.block(tree.body, state if part.shared else own)
                if not part.shared:
                    own = after or own
                elif after is not None:
                    state = own = after
                    self.defined |= _stores(tree.body)
                if part.assigns:
                    state = state.store([part.assigns])
                    self.defined.add(part.assigns)
        finally:
            self.at_line = outer
        return state


def reads_before_assignment(
    body: list[ast.stmt], cache: WalkCache | None = None
) -> tuple[list[Read], set[str]]:
    """Analyse ``body`` (top-level statements, in order).

    Returns the reads that may find their name unassigned, in the order they occur (a
    name can appear more than once), and the names code inside magics assigns. Give the
    same ``cache`` (a dictionary) to calls over the same tree: it keeps what is costly
    to work out for a node (what a ``def`` reads, what a loop assigns) for the next.
    """
    walker = _Walker(cache)
    walker.block(body, _State())
    return walker.reads, walker.defined
