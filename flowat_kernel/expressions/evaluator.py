"""The evaluator: simpleeval's ``EvalWithCompoundTypes``, hardened.

simpleeval walks the AST with one handler per node type; FlowAt keeps that design and
its handlers for the simple nodes (``if``/``else``, ``and``/``or``, literals, slices),
and replaces the rest:

* every node costs one operation of a deterministic budget, comprehension iterations
  and the items operators and helpers scan or build cost too (``limits.py``); what
  runs in C over whole values (comparing, membership, hashing, sorting, rendering) is
  paid up front from the operands' logical size, shared parts counted each time, and
  the result of an evaluation is bounded by ``max_length`` the same way;
* every intermediate value must be plain data (None, bool, int, float, str, list, dict,
  tuple, set): a function, module or any other object can never become a value;
* names come from the context and comprehension scopes only (helpers are callable,
  never values), calls go to ``FUNCTIONS`` or to the per-type ``METHODS`` table, and
  attributes are never read;
* operators check sizes *before* computing (``'a' * 10**10``, ``10**10**10``) and
  ``str % x`` formatting is refused;
* any exception becomes a :class:`Refusal` that remembers the innermost node at fault.

``SimpleEval.__init__`` is not called: it builds per-instance operator and node tables
(about 6 µs, more than evaluating a typical mapping) that this class replaces with one
class-level dispatch table.
"""

from __future__ import annotations

import ast
import itertools
import operator
import reprlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from simpleeval import EvalWithCompoundTypes

from flowat_kernel.expressions.checks import BINARY_OPERATORS, COMPARE_SYMBOLS
from flowat_kernel.expressions.errors import Refusal
from flowat_kernel.expressions.functions import FUNCTIONS, SCALAR_FUNCTIONS
from flowat_kernel.expressions.limits import (
    ITEMS_PER_OPERATION,
    LimitExceeded,
    Limits,
    OperationMeter,
    charge_comparison,
    charge_membership,
    charge_walk,
    check_length,
    deep_size,
)
from flowat_kernel.expressions.methods import METHODS
from flowat_kernel.expressions.sizes import Walker, WalkTooLong

__all__ = ["PLAIN_TYPES", "Evaluator"]

#: The only types a value may have while an expression is evaluated.
PLAIN_TYPES: frozenset[type] = frozenset(
    {type(None), bool, int, float, str, list, dict, tuple, set}
)
_SIZED = frozenset({str, list, dict, tuple, set})
_CONTAINERS = frozenset({list, dict, tuple, set})
_NUMBER_PAIRS = frozenset((a, b) for a in (int, float, bool) for b in (int, float, bool))
_NUMBER_OPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_SEQUENCES = (str, list, tuple)
_MAX_SHOWN_NAMES = 10
_RECOVERY_OPERATIONS = 24
#: Keys in error messages: a key can be a long string or a big tuple.
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlevel = 3
_CLOCK_MASK = 1023  # look at the wall clock every 1024 operations


def _size(value: Any) -> int:
    return len(value) if type(value) in _SIZED else 0


class _Missing(Exception):
    """A missing name, key or index (``default()`` recovers from it)."""


class Evaluator(EvalWithCompoundTypes):  # type: ignore[misc]
    """Evaluates one checked expression tree against a context, within ``Limits``.

    One instance per evaluation (it holds the operation count); not thread-safe.
    """

    def __init__(
        self, context: Mapping[str, Any], limits: Limits, meter: OperationMeter | None = None
    ) -> None:
        # SimpleEval.__init__ deliberately not called: see the module docstring.
        self.names = context
        self.limits = limits
        self.expr = ""
        self._walker: Walker | None = None
        self._ops = 0
        self._meter = meter
        self._max_ops = limits.max_operations
        self._ops_limit = "max_operations"
        if meter is not None and meter.remaining < self._max_ops:
            self._max_ops = meter.remaining
            self._ops_limit = "max_total_operations"
        self._deadline = (
            None if limits.max_seconds is None else time.monotonic() + limits.max_seconds
        )
        self._scopes: list[dict[str, Any]] = []

    # -- budget -------------------------------------------------------------------

    def _over_budget(self) -> LimitExceeded:
        if self._ops_limit == "max_total_operations":
            assert self._meter is not None
            return LimitExceeded(
                "max_total_operations",
                "together with the expressions evaluated before it (the same cell or "
                "step), the expression needs more than "
                f"max_total_operations={self._meter.allowance:,} operations",
            )
        return LimitExceeded(
            "max_operations",
            f"the expression needs more than max_operations={self._max_ops:,} operations",
        )

    @property
    def walker(self) -> Walker:
        """Measures logical sizes for this evaluation (made on first use)."""
        walker = self._walker
        if walker is None:
            walker = self._walker = Walker()
        return walker

    def remaining_items(self) -> int:
        """How many more items this evaluation may scan or build."""
        return max(self._max_ops - self._ops, 0) * ITEMS_PER_OPERATION

    def charge(self, items: int) -> None:
        """Pay for scanning or building ``items`` items."""
        self._ops += items // ITEMS_PER_OPERATION
        if self._ops > self._max_ops:
            raise self._over_budget()

    def _tick(self) -> None:
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise LimitExceeded(
                "max_seconds",
                f"the expression ran longer than max_seconds={self.limits.max_seconds}",
            )

    def _checkpoint(self, node: ast.AST) -> None:
        if self._ops > self._max_ops:
            raise Refusal(node, str(self._over_budget()), limit=self._ops_limit)
        try:
            self._tick()
        except LimitExceeded as exc:
            raise Refusal(node, str(exc), limit=exc.limit) from None

    # -- dispatch -----------------------------------------------------------------

    def run(self, node: ast.expr) -> Any:
        """Evaluate ``node``; any failure is a :class:`Refusal` naming the node at fault.

        The result's logical size must be within ``max_length`` too (its callers encode,
        store or compare it whole), and is paid for.
        """
        if self._meter is None:
            result = self._eval(node)
            if type(result) in _SIZED:
                self._bounded_result(node, result)
            return result
        try:
            return self._bounded_result(node, self._eval(node))
        finally:
            self._meter.used += min(self._ops, self._max_ops + 1)

    def _bounded_result(self, node: ast.expr, result: Any) -> Any:
        kind = type(result)
        if kind is str:
            if len(result) > self.limits.max_length:
                raise Refusal(node, str(_result_too_long(self.limits)), limit="max_length")
        elif kind in _CONTAINERS:
            try:
                deep_size(result, "the result")
            except LimitExceeded as exc:
                raise Refusal(node, str(exc), limit=exc.limit) from None
            except TypeError:
                pass  # the caller's own objects (a notebook context): not walked
        return result

    def _eval(self, node: ast.AST) -> Any:
        ops = self._ops = self._ops + 1
        if ops > self._max_ops or not ops & _CLOCK_MASK:
            self._checkpoint(node)
        if type(node) is ast.Constant:  # checked when parsing: None, bool, int, float, str
            return node.value
        handler = _HANDLERS.get(type(node))
        if handler is None:
            raise Refusal(node, f"{type(node).__name__} is not allowed in expressions")
        try:
            result = handler(self, node)
        except Refusal:
            raise
        except _Missing as exc:
            raise Refusal(node, str(exc), missing=True) from None
        except LimitExceeded as exc:
            raise Refusal(node, str(exc), limit=exc.limit) from None
        except RecursionError:
            raise Refusal(
                node,
                f"the value is nested too deeply (max_depth={self.limits.max_depth})",
                limit="max_depth",
            ) from None
        except MemoryError:
            raise Refusal(node, "out of memory", limit="max_length") from None
        except KeyError as exc:
            raise Refusal(node, f"key {exc.args[0]!r} not found", missing=True) from None
        except IndexError as exc:
            raise Refusal(node, str(exc), missing=True) from None
        except Exception as exc:  # TypeError, ValueError, ZeroDivisionError, ...
            raise Refusal(node, f"{type(exc).__name__}: {exc}") from None
        if type(result) not in PLAIN_TYPES:
            raise Refusal(
                node, f"a value of type {type(result).__name__} is not plain data and not allowed"
            )
        return result

    # -- names --------------------------------------------------------------------

    def _eval_name(self, node: ast.Name) -> Any:
        name = node.id
        if self._scopes:
            for scope in reversed(self._scopes):
                if name in scope:
                    return scope[name]
        try:
            return self.names[name]
        except KeyError:
            pass
        if name in FUNCTIONS:
            raise Refusal(node, f"{name} is a helper function: call it, e.g. {name}(...)")
        raise _Missing(self._unknown_name(name))

    def _unknown_name(self, name: str) -> str:
        available = sorted({str(k) for k in self.names} | {k for s in self._scopes for k in s})
        message = f"name {name!r} is not defined"
        import difflib  # only on the error path

        close = difflib.get_close_matches(name, available, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        if not available:
            return message + " (the context is empty)"
        shown = ", ".join(available[:_MAX_SHOWN_NAMES])
        more = len(available) - _MAX_SHOWN_NAMES
        return message + f"; available: {shown}" + (f" and {more} more" if more > 0 else "")

    # -- operators ----------------------------------------------------------------

    def _eval_binop(self, node: ast.BinOp) -> Any:
        left = self._eval(node.left)
        right = self._eval(node.right)
        op = type(node.op)
        try:
            kinds = (type(left), type(right))
            # Numbers cannot blow up here, except int * int (checked in _binop).
            if (
                kinds in _NUMBER_PAIRS
                and op in _NUMBER_OPS
                and (op is not ast.Mult or float in kinds)
            ):
                return _NUMBER_OPS[op](left, right)
            return self._binop(op, left, right)
        except Refusal:
            raise
        except LimitExceeded as exc:
            reason, limit = str(exc), exc.limit
        except Exception as exc:
            reason, limit = f"{type(exc).__name__}: {exc}", None
        raise Refusal(
            node, reason, between=(node.left, node.right, BINARY_OPERATORS[op]), limit=limit
        )

    def _binop(self, op: type[ast.operator], left: Any, right: Any) -> Any:
        limits = self.limits
        if op is ast.Add:
            if type(left) in _SIZED and type(right) in _SIZED:
                check_length(len(left) + len(right))
                self.charge(len(left) + len(right))
            return left + right
        if op is ast.Mult:
            for seq, times in ((left, right), (right, left)):
                if type(seq) in _SEQUENCES and type(times) in (int, bool):
                    copies = max(times, 0)
                    check_length(len(seq) * copies)
                    if copies and type(seq) is not str:
                        # [[x] * 1000] * 1000 is small in memory, not in what it holds.
                        self._check_repetition(seq, copies)
                    self.charge(len(seq) * copies)
            if type(left) is int and type(right) is int:
                self._check_bits(left.bit_length() + right.bit_length())
            return left * right
        if op is ast.Pow:
            if type(right) in (int, bool) and type(left) in (int, bool, float):
                if right > limits.max_power_exponent:
                    raise LimitExceeded(
                        "max_power_exponent",
                        f"exponent {right:,} is above max_power_exponent="
                        f"{limits.max_power_exponent:,}",
                    )
                if type(left) is not float and right > 0:
                    self._check_bits(abs(left).bit_length() * right)
            return left**right
        if op is ast.Mod and type(left) is str:
            raise TypeError("string formatting with % is not allowed: use an f-string")
        if op in (ast.BitOr, ast.BitXor, ast.BitAnd):
            if type(left) is set or type(right) is set:
                charge_walk(left, right, what="the set operation")
            else:
                self.charge(_size(left) + _size(right))
            result = (
                left | right
                if op is ast.BitOr
                else left ^ right
                if op is ast.BitXor
                else left & right
            )
            check_length(_size(result))
            return result
        if op is ast.Sub:
            if type(left) is set or type(right) is set:
                charge_walk(left, right, what="the set operation")
            else:
                self.charge(_size(left) + _size(right))
            return left - right
        if op is ast.Div:
            return left / right
        if op is ast.FloorDiv:
            return left // right
        if op is ast.Mod:
            return left % right
        raise TypeError(f"operator {BINARY_OPERATORS.get(op, op.__name__)} is not allowed")

    def _check_repetition(self, seq: list[Any] | tuple[Any, ...], copies: int) -> None:
        """Refuse ``seq * copies`` above ``max_length`` counted deep (shared parts too)."""
        limit = self.limits.max_length
        cap = limit // copies
        try:
            each = self.walker.size(seq, cap, work_cap=self.remaining_items(), strict=False)
        except WalkTooLong:
            raise self._over_budget() from None
        finally:
            self.charge(self.walker.take_work())
        if each * copies > limit:
            held = f"more than {cap:,}" if each > cap else f"{each:,}"
            raise LimitExceeded(
                "max_length",
                f"{copies:,} copies of a {type(seq).__name__} holding {held} items and "
                f"characters (counted deep, shared parts each time) are above "
                f"max_length={limit:,}",
            )

    def _check_bits(self, bits: int) -> None:
        if bits > self.limits.max_int_bits:
            raise LimitExceeded(
                "max_int_bits",
                f"the integer result would have about {bits:,} bits, above "
                f"max_int_bits={self.limits.max_int_bits:,}",
            )

    def _eval_unaryop(self, node: ast.UnaryOp) -> Any:
        operand = self._eval(node.operand)
        op = type(node.op)
        if op is ast.Not:
            return not operand
        if op is ast.USub:
            return -operand
        if op is ast.UAdd:
            return +operand
        return ~operand

    def _eval_compare(self, node: ast.Compare) -> Any:
        left_node: ast.expr = node.left
        left = self._eval(left_node)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self._eval(comparator)
            kind = type(op)
            try:
                if type(left) in _CONTAINERS or type(right) in _CONTAINERS:
                    self._pay_compare(kind, left, right)
                else:
                    self.charge(_size(left) + _size(right))
                ok = _compare(kind, left, right)
            except LimitExceeded as exc:
                raise Refusal(
                    node,
                    str(exc),
                    between=(left_node, comparator, COMPARE_SYMBOLS[kind]),
                    limit=exc.limit,
                ) from None
            except Exception as exc:
                raise Refusal(
                    node,
                    f"{type(exc).__name__}: {exc}",
                    between=(left_node, comparator, COMPARE_SYMBOLS[type(op)]),
                ) from None
            if not ok:
                return False
            left, left_node = right, comparator
        return True

    def _pay_compare(self, kind: type[ast.cmpop], left: Any, right: Any) -> None:
        """Pay up front for a comparison that C code runs over whole values."""
        symbol = COMPARE_SYMBOLS[kind]
        if kind is ast.In or kind is ast.NotIn:
            charge_membership(left, right, f"`{symbol}`")
        elif kind is not ast.Is and kind is not ast.IsNot:
            charge_comparison(left, right, f"`{symbol}`")

    # -- data access --------------------------------------------------------------

    def _eval_subscript(self, node: ast.Subscript) -> Any:
        container = self._eval(node.value)
        if isinstance(node.slice, ast.Slice):
            key = self._eval_slice(node.slice)
            result = container[key]
            self.charge(_size(result))
            return result
        key = self._eval(node.slice)
        if type(key) is tuple:
            charge_walk(key, what="the key")  # hashing walks a tuple whole
        try:
            return container[key]
        except KeyError:
            # Bounded: default(d[k], 0) may miss many times over a big dict.
            shown = itertools.islice(container, _MAX_SHOWN_NAMES)
            keys = ", ".join(_SHORT.repr(k) for k in shown)
            more = " ..." if len(container) > _MAX_SHOWN_NAMES else ""
            raise _Missing(
                f"key {_SHORT.repr(key)} not found"
                + (f" (keys: {keys}{more})" if keys else " (empty dict)")
            ) from None
        except IndexError:
            raise _Missing(
                f"index {_SHORT.repr(key)} out of range for a {type(container).__name__} "
                f"of length {len(container)}"
            ) from None

    def _eval_slice(self, node: ast.Slice) -> slice:
        return slice(
            None if node.lower is None else self._eval(node.lower),
            None if node.upper is None else self._eval(node.upper),
            None if node.step is None else self._eval(node.step),
        )

    def _eval_constant(self, node: ast.Constant) -> Any:
        return node.value

    # -- literals -----------------------------------------------------------------

    def _elements(self, elts: list[ast.expr]) -> list[Any]:
        out: list[Any] = []
        for elt in elts:
            if isinstance(elt, ast.Starred):
                value = self._eval(elt.value)
                self.charge(_size(value))
                out.extend(value)
                check_length(len(out))
            else:
                out.append(self._eval(elt))
        return out

    def _eval_list(self, node: ast.List) -> list[Any]:
        return self._elements(node.elts)

    def _eval_tuple(self, node: ast.Tuple) -> tuple[Any, ...]:
        return tuple(self._elements(node.elts))

    def _eval_set(self, node: ast.Set) -> set[Any]:
        return _hashed(self._elements(node.elts))

    def _eval_dict(self, node: ast.Dict) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                merged = self._eval(value)
                if type(merged) is not dict:
                    raise TypeError(f"** needs a dict, not {type(merged).__name__}")
                self.charge(len(merged))
                result.update(merged)
                check_length(len(result))
            else:
                computed = self._eval(key)
                if type(computed) is tuple:
                    charge_walk(computed, what="the key")
                result[computed] = self._eval(value)
        return result

    def _eval_joinedstr(self, node: ast.JoinedStr) -> str:
        parts = [str(self._eval(value)) for value in node.values]
        size = sum(len(p) for p in parts)
        check_length(size, "the f-string")
        self.charge(size)
        return "".join(parts)

    def _eval_formattedvalue(self, node: ast.FormattedValue) -> str:
        value = self._eval(node.value)
        deep_size(value, "an f-string value")
        if node.conversion == ord("r"):
            value = repr(value)
        elif node.conversion == ord("a"):
            value = ascii(value)
        elif node.conversion == ord("s"):
            value = str(value)
        spec = "" if node.format_spec is None else self._eval(node.format_spec)
        return format(value, spec)

    # -- calls --------------------------------------------------------------------

    def _arguments(self, node: ast.Call) -> tuple[list[Any], dict[str, Any]]:
        args = self._elements(node.args)
        kwargs: dict[str, Any] = {}
        for keyword in node.keywords:
            value = self._eval(keyword.value)
            if keyword.arg is None:
                if type(value) is not dict or not all(type(k) is str for k in value):
                    raise TypeError("** in a call needs a dict with string keys")
                if any(k.startswith("_") for k in value):
                    raise TypeError("keyword arguments starting with _ are not allowed")
                kwargs.update(value)
            else:
                kwargs[keyword.arg] = value
        return args, kwargs

    def _eval_call(self, node: ast.Call) -> Any:
        func = node.func
        if isinstance(func, ast.Attribute):
            target = self._eval(func.value)
            table = METHODS.get(type(target), {})
            method = table.get(func.attr)
            if method is None:
                allowed = ", ".join(sorted(table)) or "none"
                raise Refusal(
                    func,
                    f"{type(target).__name__} has no method .{func.attr}() here "
                    f"(allowed on {type(target).__name__}: {allowed})",
                )
            args, kwargs = self._arguments(node)
            kind = type(target)
            if kind is list or kind is tuple:  # index(), count(): compare with every item
                charge_walk(target, what=f".{func.attr}()")
            elif kind is dict and args:  # get(): hashes the key
                charge_walk(args[0], what=f".{func.attr}()")
            self.charge(_size(target) + sum(_size(a) for a in args))
            result = method(target, *args, **kwargs)
            self.charge(_size(result))
            return result
        assert isinstance(func, ast.Name)  # the checker allows only helpers and methods
        name = func.id
        if name == "default" and node.args and not isinstance(node.args[0], ast.Starred):
            return self._default(node)
        helper: Callable[..., Any] = FUNCTIONS[name]
        args, kwargs = self._arguments(node)
        if name not in SCALAR_FUNCTIONS:
            self.charge(sum(_size(a) for a in args))
        result = helper(*args, **kwargs)
        if name not in SCALAR_FUNCTIONS:
            self.charge(_size(result))
        return result

    def _default(self, node: ast.Call) -> Any:
        try:
            value = self._eval(node.args[0])
        except Refusal as refusal:
            if not refusal.missing:
                raise
            # Raising and recovering costs about as much as this many evaluated nodes.
            self._ops += _RECOVERY_OPERATIONS
            value = None
        rest = [self._eval(arg) for arg in node.args[1:]]
        kwargs = {k.arg: self._eval(k.value) for k in node.keywords if k.arg is not None}
        return FUNCTIONS["default"](value, *rest, **kwargs)

    # -- comprehensions -----------------------------------------------------------

    def _eval_comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp
    ) -> Any:
        out: list[Any] = []
        pairs: dict[Any, Any] = {}
        scope: dict[str, Any] = {}
        is_dict = isinstance(node, ast.DictComp)
        generators = node.generators

        def loop(index: int) -> None:
            generator = generators[index]
            iterable = self._eval(generator.iter)
            if type(iterable) not in _SIZED:
                raise TypeError(f"cannot iterate over {type(iterable).__name__}")
            for item in iterable:
                self._ops += 1
                if self._ops > self._max_ops:
                    raise self._over_budget()
                if isinstance(generator.target, ast.Name):
                    scope[generator.target.id] = item
                else:
                    _bind(generator.target, item, scope)
                for condition in generator.ifs:
                    if not self._eval(condition):
                        break
                else:
                    if index + 1 < len(generators):
                        loop(index + 1)
                    elif is_dict:
                        key = self._eval(node.key)  # type: ignore[union-attr]
                        if type(key) is tuple:
                            charge_walk(key, what="the key")
                        pairs[key] = self._eval(node.value)  # type: ignore[union-attr]
                    else:
                        out.append(self._eval(node.elt))  # type: ignore[union-attr]

        # The first iterable is evaluated outside the new scope, as in Python.
        self._scopes.append(scope)
        try:
            loop(0)
        finally:
            self._scopes.pop()
        if is_dict:
            return pairs
        if isinstance(node, ast.SetComp):
            return _hashed(out)
        return out


def _result_too_long(limits: Limits) -> LimitExceeded:
    return LimitExceeded(
        "max_length", f"the result is longer than max_length={limits.max_length:,} characters"
    )


def _hashed(items: list[Any]) -> set[Any]:
    """``set(items)``, paying for hashing tuples, which walks them whole."""
    for item in items:
        if type(item) is tuple:
            charge_walk(item, what="the set item")
    return set(items)


def _bind(target: ast.AST, value: Any, scope: dict[str, Any]) -> None:
    if isinstance(target, ast.Name):
        scope[target.id] = value
        return
    elts = target.elts  # type: ignore[attr-defined]  # Tuple/List, as checked
    items = list(value) if type(value) in _SIZED else None
    if items is None or len(items) != len(elts):
        raise ValueError(
            f"cannot unpack {type(value).__name__} into {len(elts)} comprehension variables"
        )
    for sub, item in zip(elts, items, strict=True):
        _bind(sub, item, scope)


def _compare(op: type[ast.cmpop], left: Any, right: Any) -> bool:
    if op is ast.Eq:
        return bool(left == right)
    if op is ast.NotEq:
        return bool(left != right)
    if op is ast.Lt:
        return bool(left < right)
    if op is ast.LtE:
        return bool(left <= right)
    if op is ast.Gt:
        return bool(left > right)
    if op is ast.GtE:
        return bool(left >= right)
    if op is ast.In:
        return left in right
    if op is ast.NotIn:
        return left not in right
    if op is ast.Is:
        return left is right
    return left is not right


_HANDLERS: dict[type[ast.AST], Callable[[Evaluator, Any], Any]] = {
    ast.Name: Evaluator._eval_name,
    ast.BinOp: Evaluator._eval_binop,
    ast.UnaryOp: Evaluator._eval_unaryop,
    ast.BoolOp: EvalWithCompoundTypes._eval_boolop,
    ast.Compare: Evaluator._eval_compare,
    ast.IfExp: EvalWithCompoundTypes._eval_ifexp,
    ast.Call: Evaluator._eval_call,
    ast.Subscript: Evaluator._eval_subscript,
    ast.List: Evaluator._eval_list,
    ast.Tuple: Evaluator._eval_tuple,
    ast.Set: Evaluator._eval_set,
    ast.Dict: Evaluator._eval_dict,
    ast.ListComp: Evaluator._eval_comprehension,
    ast.SetComp: Evaluator._eval_comprehension,
    ast.GeneratorExp: Evaluator._eval_comprehension,
    ast.DictComp: Evaluator._eval_comprehension,
    ast.JoinedStr: Evaluator._eval_joinedstr,
    ast.FormattedValue: Evaluator._eval_formattedvalue,
}
