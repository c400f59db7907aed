"""The evaluator's data access, literals and comprehensions: reading and building values.

Subscripts and slices; list, tuple, set and dict literals and f-strings; comprehensions,
with their own scope. What is built is paid for item by item, and hashing a tuple (a
key, a set item) is paid for as the walk over the whole tuple that it is.
"""

from __future__ import annotations

import ast
import itertools
import reprlib
from typing import Any

from flowat_kernel.expressions.evaluator_state import (
    _MAX_SHOWN_NAMES,
    _SIZED,
    EvaluatorState,
    _Missing,
    _size,
)
from flowat_kernel.expressions.limits import charge_walk, check_length, deep_size

__all__ = ["ValueEvaluation"]

#: Keys in error messages: a key can be a long string or a big tuple.
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlevel = 3


class ValueEvaluation(EvaluatorState):
    """Evaluates subscripts, literals and comprehensions: a part of the evaluator."""

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
