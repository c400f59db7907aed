"""What every part of the evaluator works with: the context, the scopes and the budget.

:class:`EvaluatorState` holds one evaluation's context, comprehension scopes, limits and
operation count, and pays for work against the budget (``limits.py``). The evaluator's
parts (:mod:`~flowat_kernel.expressions.evaluator_operators`,
:mod:`~flowat_kernel.expressions.evaluator_values`,
:mod:`~flowat_kernel.expressions.evaluator_calls`) and
:class:`~flowat_kernel.expressions.evaluator.Evaluator` build on it, and share the small
helpers here.

``SimpleEval.__init__`` is not called: it builds per-instance operator and node tables
(about 6 µs, more than evaluating a typical mapping) that
:class:`~flowat_kernel.expressions.evaluator.Evaluator` replaces with one class-level
dispatch table.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Mapping
from typing import Any

from simpleeval import EvalWithCompoundTypes

from flowat_kernel.expressions.errors import Refusal
from flowat_kernel.expressions.limits import (
    ITEMS_PER_OPERATION,
    LimitExceeded,
    Limits,
    OperationMeter,
)
from flowat_kernel.expressions.sizes import Walker

__all__ = ["EvaluatorState"]

_SIZED = frozenset({str, list, dict, tuple, set})
_CONTAINERS = frozenset({list, dict, tuple, set})
_MAX_SHOWN_NAMES = 10


def _size(value: Any) -> int:
    return len(value) if type(value) in _SIZED else 0


class _Missing(Exception):
    """A missing name, key or index (``default()`` recovers from it)."""


class EvaluatorState(EvalWithCompoundTypes):  # type: ignore[misc]
    """One evaluation's context, scopes, limits and operation count; pays for its work.

    The base of :class:`~flowat_kernel.expressions.evaluator.Evaluator` and its parts.
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
