"""The evaluator's calls: the helper functions and the per-type methods.

Calls go to ``FUNCTIONS`` or to the ``METHODS`` table of the value's type, paid for by
the sizes they scan and build; ``default()`` recovers from a missing name, key or index.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from flowat_kernel.expressions.errors import Refusal
from flowat_kernel.expressions.evaluator_state import EvaluatorState, _size
from flowat_kernel.expressions.functions import FUNCTIONS, SCALAR_FUNCTIONS
from flowat_kernel.expressions.limits import charge_walk
from flowat_kernel.expressions.methods import METHODS

__all__ = ["CallEvaluation"]

_RECOVERY_OPERATIONS = 24


class CallEvaluation(EvaluatorState):
    """Evaluates calls of helpers and methods: a part of the evaluator."""

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
