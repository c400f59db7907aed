"""The evaluator's operators: arithmetic, unary operators and comparisons.

Operators check sizes *before* computing (``'a' * 10**10``, ``10**10**10``) and refuse
``str % x`` formatting; comparisons that C code runs over whole values are paid for up
front, from the operands' logical size.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

from flowat_kernel.expressions.checks import BINARY_OPERATORS, COMPARE_SYMBOLS
from flowat_kernel.expressions.errors import Refusal
from flowat_kernel.expressions.evaluator_state import _CONTAINERS, _SIZED, EvaluatorState, _size
from flowat_kernel.expressions.limits import (
    LimitExceeded,
    charge_comparison,
    charge_membership,
    charge_walk,
    check_length,
)
from flowat_kernel.expressions.sizes import WalkTooLong

__all__ = ["OperatorEvaluation"]

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


class OperatorEvaluation(EvaluatorState):
    """Evaluates operators and comparisons: a part of the evaluator."""

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
