"""How much work one evaluation may do, and the checks that enforce it.

The budget is deterministic: it counts evaluated nodes, comprehension iterations and
the items that helpers and operators scan or build, never seconds, because expressions
run inside Temporal workflow code, which must make the same decisions when it is
replayed. ``max_seconds`` is only a backstop against a cost model that is wrong.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "DEFAULT_LIMITS",
    "ITEMS_PER_OPERATION",
    "Budget",
    "LimitExceeded",
    "Limits",
    "check_length",
    "current_limits",
    "deep_size",
]

#: Scanning or building this many items (list elements, characters) costs one operation:
#: roughly what C code does with items in the time the evaluator takes for one node.
ITEMS_PER_OPERATION = 32

#: The parser refuses deeper nesting anyway, and evaluation recurses once per level.
_MAX_DEPTH_CEILING = 200


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one evaluation.

    Attributes:
        max_operations: evaluated nodes plus comprehension iterations plus scanned or
            built items / ``ITEMS_PER_OPERATION``; deterministic.
        max_length: the most characters in a string or items in a list, dict, tuple or
            set that an expression may build or render.
        max_depth: the deepest nesting of sub-expressions (at most 200).
        max_power_exponent: the largest integer exponent of ``**`` (and digits of
            ``round``).
        max_int_bits: the largest integer, in bits, that ``*`` and ``**`` may produce.
        max_seconds: wall-clock backstop; ``None`` turns it off.
        max_source_length: the longest expression or Set Variable cell, in characters
            (checked when parsing; parsing and checking take about 3 µs per character).

    """

    max_operations: int = 100_000
    max_length: int = 1_000_000
    max_depth: int = 64
    max_power_exponent: int = 1_000
    max_int_bits: int = 8_192
    max_seconds: float | None = 1.0
    max_source_length: int = 100_000

    def __post_init__(self) -> None:
        for name in (
            "max_operations",
            "max_length",
            "max_depth",
            "max_power_exponent",
            "max_source_length",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be at least 1")
        if self.max_int_bits < 64:
            raise ValueError("Limits.max_int_bits must be at least 64")
        if self.max_depth > _MAX_DEPTH_CEILING:
            raise ValueError(f"Limits.max_depth must be at most {_MAX_DEPTH_CEILING}")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise ValueError("Limits.max_seconds must be positive (or None)")


DEFAULT_LIMITS = Limits()


class Budget(Protocol):
    """The operation budget of the evaluation in progress."""

    def remaining_items(self) -> int:
        """How many more items may be scanned or built."""

    def charge(self, items: int) -> None:
        """Pay for scanning or building ``items`` items."""


_CURRENT: contextvars.ContextVar[tuple[Limits, Budget | None]] = contextvars.ContextVar(
    "flowat_expression_limits", default=(DEFAULT_LIMITS, None)
)


def current_limits() -> Limits:
    """The limits of the evaluation in progress (``DEFAULT_LIMITS`` outside one)."""
    return _CURRENT.get()[0]


def set_current_limits(
    limits: Limits, budget: Budget | None = None
) -> contextvars.Token[tuple[Limits, Budget | None]]:
    """Make ``limits`` (and ``budget``) current for helpers; undo with the token."""
    return _CURRENT.set((limits, budget))


def reset_current_limits(token: contextvars.Token[tuple[Limits, Budget | None]]) -> None:
    """Undo :func:`set_current_limits`."""
    _CURRENT.reset(token)


class LimitExceeded(ValueError):
    """An evaluation would go beyond one of its :class:`Limits`.

    Attributes:
        limit: the name of the ``Limits`` field.

    """

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


def check_length(size: int, what: str = "the result") -> None:
    """Refuse building a string or collection of ``size`` items before building it."""
    limit = current_limits().max_length
    if size > limit:
        raise LimitExceeded(
            "max_length",
            f"{what} would have {size:,} items or characters, above max_length={limit:,}",
        )


_SCALARS = (type(None), bool, int, float)


def deep_size(value: Any, what: str = "the value") -> int:
    """Count the items and characters in ``value``, refusing more than ``max_length``.

    Used before anything that renders a whole value (``str``, ``json``, f-strings,
    ``join``): a list that holds the same big list a thousand times is small in memory
    but huge once rendered. The walk is iterative (no recursion limit) and stops as soon
    as the count passes the limit, so it is bounded too. Anything that is not plain data
    (None, bool, int, float, str, list, tuple, set, dict) is refused.
    """
    limits, budget = _CURRENT.get()
    limit = limits.max_length
    cap = limit if budget is None else min(limit, budget.remaining_items())
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        total += 1
        if kind is str:
            total += len(item)
        elif kind in _SCALARS:
            pass
        elif kind is dict:
            stack.extend(item.keys())
            stack.extend(item.values())
        elif kind in (list, tuple, set):
            stack.extend(item)
        else:
            raise TypeError(
                f"{what} holds a value of type {kind.__name__}, which is not plain data"
            )
        if total > cap:
            if total > limit:
                raise LimitExceeded(
                    "max_length", f"{what} is larger than max_length={limit:,} items and characters"
                )
            raise LimitExceeded(
                "max_operations",
                f"{what} is too large for what is left of max_operations={limits.max_operations:,}",
            )
    if budget is not None:
        budget.charge(total)
    return total
