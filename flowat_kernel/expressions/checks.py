"""Static checks at publish time: allowed syntax only, nesting depth, free names.

Everything the evaluator cannot do is refused here, before anything runs, with the
position of the offending node: statements, lambda, ``:=``, attributes other than
called whitelisted methods, ``_``-prefixed attributes, dunder names, calls of anything
but helpers and methods, ``<<`` / ``>>`` / ``@``, non-constant f-string format specs.
Names are read after Python's parser normalised them (NFKC), so look-alike letters
such as fullwidth underscores (U+FF3F) are checked as the ``_`` they become.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterable

from flowat_kernel.expressions.errors import Refusal
from flowat_kernel.expressions.functions import FUNCTIONS
from flowat_kernel.expressions.methods import METHOD_NAMES, REFUSED_METHODS

__all__ = ["BINARY_OPERATORS", "COMPARE_SYMBOLS", "check_expression", "expression_depth"]

#: The binary operators an expression may use, with their symbols (for error positions).
BINARY_OPERATORS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
}
_REFUSED_OPERATORS: dict[type[ast.operator], str] = {
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
}
COMPARE_SYMBOLS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not",
    ast.Is: "is",
    ast.IsNot: "is",
}
_CONSTANT_TYPES = (type(None), bool, int, float, str)
_NAMED_NODES: dict[type[ast.AST], str] = {
    ast.Lambda: "lambda is not allowed: expressions cannot define functions",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
}
# A format spec with at most 3-digit width and precision: padding stays bounded.
_SAFE_SPEC = re.compile(
    r"(?:[^{}]?[<>=^])?[+\- ]?z?#?0?(?:[0-9]{1,3})?[,_]?(?:\.[0-9]{1,3})?[bcdeEfFgGnosxX%]?",
    re.ASCII,
)
_CONVERSIONS = (-1, ord("s"), ord("r"), ord("a"))


def expression_depth(node: ast.AST) -> int:
    """The deepest chain of nested sub-expressions under ``node`` (iterative)."""
    deepest = 0
    stack: list[tuple[ast.AST, int]] = [(node, 0)]
    push = stack.append
    expr = ast.expr
    while stack:
        current, depth = stack.pop()
        if isinstance(current, expr):
            depth += 1
            if depth > deepest:
                deepest = depth
        for field in current._fields:
            child = getattr(current, field, None)
            if isinstance(child, list):
                for item in child:
                    if isinstance(item, ast.AST):
                        push((item, depth))
            elif isinstance(child, ast.AST) and not isinstance(child, ast.expr_context):
                push((child, depth))
    return deepest


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"; did you mean `{close[0]}`?" if close else ""


def _attribute_reason(attr: str) -> str:
    if attr.startswith("_"):
        return f"attribute {attr} is not allowed: attributes starting with _ are never accessible"
    return (
        f"attribute access .{attr} is not allowed; to read a field write x[{attr!r}]"
        if attr not in METHOD_NAMES
        else f"method .{attr} must be called, e.g. x.{attr}()"
    )


class _Checker:
    def __init__(self) -> None:
        self.names: set[str] = set()

    def check(self, node: ast.AST, bound: frozenset[str]) -> None:
        if isinstance(node, ast.Constant):
            if type(node.value) not in _CONSTANT_TYPES:
                kind = "..." if node.value is Ellipsis else type(node.value).__name__
                raise Refusal(node, f"{kind} literals are not allowed: only plain data")
        elif isinstance(node, ast.Name):
            if node.id.startswith("__"):
                raise Refusal(node, f"name {node.id} is not allowed: no names starting with __")
            if node.id not in bound:
                self.names.add(node.id)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in BINARY_OPERATORS:
                symbol = _REFUSED_OPERATORS.get(type(node.op), type(node.op).__name__)
                raise Refusal(
                    node,
                    f"operator {symbol} is not allowed",
                    between=(node.left, node.right, symbol),
                )
            self.check(node.left, bound)
            self.check(node.right, bound)
        elif isinstance(node, ast.UnaryOp | ast.BoolOp | ast.IfExp | ast.Compare):
            self._children(node, bound)
        elif isinstance(node, ast.Subscript):
            self.check(node.value, bound)
            if isinstance(node.slice, ast.Slice):
                self._children(node.slice, bound)
            else:
                self.check(node.slice, bound)
        elif isinstance(node, ast.List | ast.Tuple | ast.Set):
            for elt in node.elts:
                self.check(elt.value if isinstance(elt, ast.Starred) else elt, bound)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if key is not None:
                    self.check(key, bound)
                self.check(value, bound)
        elif isinstance(node, ast.Call):
            self._call(node, bound)
        elif isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            self._comprehension(node, bound)
        elif isinstance(node, ast.JoinedStr):
            for part in node.values:
                self.check(part, bound)
        elif isinstance(node, ast.FormattedValue):
            self._formatted(node, bound)
        elif isinstance(node, ast.Attribute):
            raise Refusal(node, _attribute_reason(node.attr))
        elif isinstance(node, ast.Starred):
            raise Refusal(
                node, "* unpacking is only allowed in list, tuple, set and call arguments"
            )
        elif type(node) in _NAMED_NODES:
            raise Refusal(node, _NAMED_NODES[type(node)])
        else:
            raise Refusal(node, f"{type(node).__name__} is not allowed in expressions")

    def _children(self, node: ast.AST, bound: frozenset[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.check(child, bound)

    def _call(self, node: ast.Call, bound: frozenset[str]) -> None:
        func = node.func
        if isinstance(func, ast.Name):
            if func.id not in FUNCTIONS:
                raise Refusal(
                    func,
                    f"`{func.id}` is not a helper function{_suggest(func.id, FUNCTIONS)} "
                    "(the helpers are listed in docs/expressions.md)",
                )
        elif isinstance(func, ast.Attribute):
            attr = func.attr
            if attr.startswith("_"):
                raise Refusal(func, _attribute_reason(attr))
            if attr in REFUSED_METHODS:
                raise Refusal(func, REFUSED_METHODS[attr])
            if attr not in METHOD_NAMES:
                raise Refusal(
                    func,
                    f"method .{attr}() is not allowed{_suggest(attr, METHOD_NAMES)} "
                    "(the methods are listed in docs/expressions.md)",
                )
            self.check(func.value, bound)
        elif type(func) in _NAMED_NODES:
            raise Refusal(func, _NAMED_NODES[type(func)])
        else:
            raise Refusal(func, "only helper functions and allowed methods can be called")
        for arg in node.args:
            self.check(arg.value if isinstance(arg, ast.Starred) else arg, bound)
        for keyword in node.keywords:
            if keyword.arg is not None and keyword.arg.startswith("_"):
                raise Refusal(keyword.value, f"keyword argument {keyword.arg} is not allowed")
            self.check(keyword.value, bound)

    def _comprehension(
        self,
        node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp,
        bound: frozenset[str],
    ) -> None:
        inner = bound
        for index, generator in enumerate(node.generators):
            if generator.is_async:
                raise Refusal(generator.iter, "async comprehensions are not allowed")
            # Python evaluates the first iterable in the enclosing scope.
            self.check(generator.iter, bound if index == 0 else inner)
            inner = inner | _target_names(generator.target)
            for condition in generator.ifs:
                self.check(condition, inner)
        if isinstance(node, ast.DictComp):
            self.check(node.key, inner)
            self.check(node.value, inner)
        else:
            self.check(node.elt, inner)

    def _formatted(self, node: ast.FormattedValue, bound: frozenset[str]) -> None:
        if node.conversion not in _CONVERSIONS:
            raise Refusal(node, "this f-string conversion is not allowed")
        spec = node.format_spec
        if spec is not None:
            if not (
                isinstance(spec, ast.JoinedStr)
                and all(isinstance(v, ast.Constant) for v in spec.values)
            ):
                raise Refusal(spec, "f-string format specs must be constant, e.g. {x:>10.2f}")
            text = "".join(str(v.value) for v in spec.values if isinstance(v, ast.Constant))
            if not _SAFE_SPEC.fullmatch(text):
                raise Refusal(
                    spec,
                    f"f-string format spec {text!r} is not allowed "
                    "(widths and precisions have at most 3 digits)",
                )
        self.check(node.value, bound)


def _target_names(target: ast.AST) -> frozenset[str]:
    if isinstance(target, ast.Name):
        if target.id.startswith("__"):
            raise Refusal(target, f"name {target.id} is not allowed: no names starting with __")
        return frozenset({target.id})
    if isinstance(target, ast.Tuple | ast.List):
        names: frozenset[str] = frozenset()
        for elt in target.elts:
            names |= _target_names(elt)
        return names
    raise Refusal(target, "a comprehension variable must be a name or a tuple of names")


def check_expression(node: ast.expr) -> frozenset[str]:
    """Refuse anything not allowed in ``node``; return the free names it reads.

    Free names exclude comprehension variables and helper functions in call position.

    Raises:
        Refusal: the first forbidden construct, with its node.

    """
    checker = _Checker()
    checker.check(node, frozenset())
    return frozenset(checker.names)
