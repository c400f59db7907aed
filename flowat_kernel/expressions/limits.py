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

from flowat_kernel.expressions.sizes import Walker, WalkTooLong

__all__ = [
    "DEFAULT_LIMITS",
    "ITEMS_PER_OPERATION",
    "Budget",
    "LimitExceeded",
    "Limits",
    "OperationMeter",
    "charge_comparison",
    "charge_membership",
    "charge_walk",
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
            built items / ``ITEMS_PER_OPERATION``; deterministic. Operations that run
            in C (comparing, hashing, sorting, searching, encoding) pay for the logical
            size of their operands up front: shared parts count each time they occur.
        max_total_operations: the most operations that evaluations sharing an
            :class:`OperationMeter` may use together (the lines of a Set Variable cell,
            the expressions of one logic step), so that many cheap evaluations cannot
            add up to a long stall; at least ``max_operations``.
        max_length: the most characters in a string or items in a list, dict, tuple or
            set that an expression may build or render, counted deep (the logical size
            of a value, see ``sizes.py``); also bounds an evaluation's result.
        max_depth: the deepest nesting of sub-expressions (at most 200).
        max_power_exponent: the largest integer exponent of ``**`` (and digits of
            ``round``).
        max_int_bits: the largest integer, in bits, that ``*`` and ``**`` may produce.
        max_seconds: wall-clock backstop; ``None`` turns it off.
        max_source_length: the longest expression or Set Variable cell, in characters
            (checked when parsing; parsing and checking take about 3 µs per character).

    """

    max_operations: int = 100_000
    max_total_operations: int = 1_000_000
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
        if self.max_total_operations < self.max_operations:
            raise ValueError("Limits.max_total_operations must be at least max_operations")
        if self.max_int_bits < 64:
            raise ValueError("Limits.max_int_bits must be at least 64")
        if self.max_depth > _MAX_DEPTH_CEILING:
            raise ValueError(f"Limits.max_depth must be at most {_MAX_DEPTH_CEILING}")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise ValueError("Limits.max_seconds must be positive (or None)")


DEFAULT_LIMITS = Limits()


class OperationMeter:
    """Operations used so far by evaluations that share one allowance.

    Pass the same meter to several :meth:`Expression.evaluate` calls (a logic step's
    mappings and predicates); each evaluation still has ``max_operations`` of its own,
    and all of them together have ``max_total_operations``. Deterministic, like the
    budget; not thread-safe.

    Attributes:
        used: operations used so far.
        allowance: the most operations all evaluations may use together.

    """

    __slots__ = ("allowance", "used")

    def __init__(self, allowance: int = DEFAULT_LIMITS.max_total_operations) -> None:
        if allowance < 1:
            raise ValueError("OperationMeter allowance must be at least 1")
        self.allowance = allowance
        self.used = 0

    @classmethod
    def for_limits(cls, limits: Limits) -> OperationMeter:
        """A meter allowing ``limits.max_total_operations``."""
        return cls(limits.max_total_operations)

    @property
    def remaining(self) -> int:
        """Operations still available."""
        return max(self.allowance - self.used, 0)


class Budget(Protocol):
    """The operation budget of the evaluation in progress."""

    @property
    def walker(self) -> Walker:
        """Measures logical sizes, remembering them for the rest of the evaluation."""

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


_SCALARS = frozenset({type(None), bool, int, float})


def _too_much(limits: Limits, what: str) -> LimitExceeded:
    return LimitExceeded(
        "max_operations",
        f"{what} touches more items than what is left of "
        f"max_operations={limits.max_operations:,} allows (values count whole, shared "
        "parts each time they occur)",
    )


def deep_size(value: Any, what: str = "the value") -> int:
    """The logical size of ``value`` (see ``sizes.py``), refused above ``max_length``.

    Used before anything that renders or copies a whole value (``str``, ``json``,
    f-strings, ``join``, ``unique``, an evaluation's result): a list that holds the same
    big list a thousand times is small in memory but huge once rendered. The evaluation's
    budget pays for the size and for the walk. Anything that is not plain data is
    refused (``TypeError``).
    """
    limits, budget = _CURRENT.get()
    limit = limits.max_length
    kind = type(value)
    if kind is str or kind in _SCALARS:  # the common case: no walk
        total = len(value) if kind is str else 0
        if total > limit:
            raise LimitExceeded(
                "max_length", f"{what} is longer than max_length={limit:,} characters"
            )
        if budget is not None:
            budget.charge(total)
        return total
    walker = Walker() if budget is None else budget.walker
    if budget is None:
        cap, work_cap = limit, None
    else:
        work_cap = budget.remaining_items()
        cap = min(limit, work_cap)
    try:
        total = walker.size(value, cap, work_cap=work_cap, what=what)
    except WalkTooLong:
        raise _too_much(limits, what) from None
    finally:
        if budget is not None:
            budget.charge(walker.take_work())
    if total > cap:
        if total > limit:
            raise LimitExceeded(
                "max_length",
                f"{what} is larger than max_length={limit:,} items and characters "
                "(counted deep: shared parts count each time they occur)",
            )
        raise _too_much(limits, what)
    if budget is not None:
        budget.charge(total)
    return total


def charge_walk(*values: Any, what: str = "the operation", times: int = 1) -> None:
    """Pay for an operation that may touch every item of ``values``, ``times`` times.

    Comparing, hashing, sorting and searching run in C, where the evaluator cannot count
    steps: their cost is paid up front from the logical sizes of their operands, and the
    operation is refused (``max_operations``) when the budget cannot pay. Outside an
    evaluation (no budget) this does nothing.
    """
    limits, budget = _CURRENT.get()
    if budget is None:
        return
    walker = budget.walker
    cap = budget.remaining_items() // max(times, 1)
    total = 0
    work_cap = budget.remaining_items()
    try:
        for value in values:
            total += walker.size(value, cap - total, work_cap=work_cap, strict=False, what=what)
            if total > cap:
                raise _too_much(limits, what)
    except WalkTooLong:
        raise _too_much(limits, what) from None
    finally:
        budget.charge(walker.take_work())
    budget.charge(total * times)


def charge_membership(item: Any, container: Any, what: str = "`in`") -> None:
    """Pay for ``item in container``: a scan of a list or tuple, a hash for a dict or set."""
    kind = type(container)
    if kind is list or kind is tuple:
        # Each comparison touches at most the smaller side: the container's size bounds it.
        charge_walk(container, what=what)
    elif kind is dict or kind is set:
        charge_walk(item, what=what)
    else:
        charge_walk(item, container, what=what)


def charge_comparison(left: Any, right: Any, what: str = "the comparison") -> None:
    """Pay for comparing two values: C code walks at most the smaller one."""
    limits, budget = _CURRENT.get()
    if budget is None:
        return
    walker = budget.walker
    cap = budget.remaining_items()
    try:
        size = min(
            walker.size(left, cap, work_cap=cap, strict=False, what=what),
            walker.size(right, cap, work_cap=cap, strict=False, what=what),
        )
    except WalkTooLong:
        raise _too_much(limits, what) from None
    finally:
        budget.charge(walker.take_work())
    if size > cap:
        raise _too_much(limits, what)
    budget.charge(size)
