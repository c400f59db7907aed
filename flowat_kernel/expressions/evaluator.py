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

The parts live in their own modules, each a base class of :class:`Evaluator`:
:mod:`~flowat_kernel.expressions.evaluator_state` (the context, scopes and budget),
:mod:`~flowat_kernel.expressions.evaluator_operators` (operators and comparisons),
:mod:`~flowat_kernel.expressions.evaluator_values` (data access, literals and
comprehensions) and :mod:`~flowat_kernel.expressions.evaluator_calls` (calls). This
module dispatches on node types, reads names and bounds the result.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from simpleeval import EvalWithCompoundTypes

from flowat_kernel.expressions.errors import Refusal
from flowat_kernel.expressions.evaluator_calls import CallEvaluation
from flowat_kernel.expressions.evaluator_operators import OperatorEvaluation
from flowat_kernel.expressions.evaluator_state import (
    _CONTAINERS,
    _MAX_SHOWN_NAMES,
    _SIZED,
    _Missing,
)
from flowat_kernel.expressions.evaluator_values import ValueEvaluation
from flowat_kernel.expressions.functions import FUNCTIONS
from flowat_kernel.expressions.limits import LimitExceeded, Limits, deep_size

__all__ = ["PLAIN_TYPES", "Evaluator"]

#: The only types a value may have while an expression is evaluated.
PLAIN_TYPES: frozenset[type] = frozenset(
    {type(None), bool, int, float, str, list, dict, tuple, set}
)
_CLOCK_MASK = 1023  # look at the wall clock every 1024 operations


class Evaluator(OperatorEvaluation, ValueEvaluation, CallEvaluation):
    """Evaluates one checked expression tree against a context, within ``Limits``.

    One instance per evaluation (it holds the operation count); not thread-safe.
    """

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


def _result_too_long(limits: Limits) -> LimitExceeded:
    return LimitExceeded(
        "max_length", f"the result is longer than max_length={limits.max_length:,} characters"
    )


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
