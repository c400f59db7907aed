"""The logical size of a value, and what measuring it costs.

A list that holds the same big list a thousand times is small in memory but not in
what comparing, hashing, sorting or encoding it touches: ``[[[0] * 1000] * 1000] *
1000`` is three lists in memory and a billion items to ``==``. The *logical size*
counts what those operations see: a list or tuple its items, a set its members, a dict
its entries, a string its characters, plus the logical sizes of everything they hold,
shared parts counted every time they occur; scalars count nothing of their own.

A :class:`Walker` measures it by walking each distinct object once and remembering the
sizes it found, so measuring costs the number of distinct containers and references,
never the logical size. The walk itself costs time too (a Python loop, not C): the
walker counts it as ``work``, which the evaluation's budget pays like any other scan.
"""

from __future__ import annotations

import itertools
from typing import Any

__all__ = ["CHILD_ITEMS", "FRAME_ITEMS", "WalkTooLong", "Walker"]

#: What the walk costs, in items (``ITEMS_PER_OPERATION`` items are one operation, about
#: the time of one evaluated node): entering a container is about eight nodes' time, one
#: loop iteration over a child a fraction of one, and a container whose items are all
#: scalars (or all strings) is checked in C, at one item per item.
FRAME_ITEMS = 256
CHILD_ITEMS = 4
#: Containers at least this long are first checked for scalar-only contents in C.
_FLAT_CHECK_MIN = 16

_FLAT: frozenset[type] = frozenset({type(None), bool, int, float})
_STR_ONLY: frozenset[type] = frozenset({str})
_CONTAINERS: frozenset[type] = frozenset({list, tuple, set, dict})


class WalkTooLong(Exception):
    """Measuring would take more work than the caller allowed (``work_cap``)."""


def _flat_part(items: Any) -> int | None:
    """The size of ``items``' elements if none needs a walk (found in C), else None."""
    kinds = set(map(type, items))
    if kinds <= _FLAT:
        return 0
    if kinds == _STR_ONLY:
        return sum(map(len, items))
    return None


def _open(container: Any) -> list[Any]:
    """A walk frame: ``[container, children still to walk (or None), size so far]``.

    Containers of ``_FLAT_CHECK_MIN`` items or more are checked in C first (their walk
    work is their length more).
    """
    total = len(container)
    if type(container) is dict:
        if total < _FLAT_CHECK_MIN:
            return [container, itertools.chain(container, container.values()), total]
        keys = _flat_part(container)
        values = _flat_part(container.values())
        total += (keys or 0) + (values or 0)
        rest: Any = None
        if keys is None and values is None:
            rest = itertools.chain(container, container.values())
        elif keys is None:
            rest = iter(container)
        elif values is None:
            rest = iter(container.values())
        return [container, rest, total]
    if total < _FLAT_CHECK_MIN:
        return [container, iter(container), total]
    flat = _flat_part(container)
    if flat is None:
        return [container, iter(container), total]
    return [container, None, total + flat]


def _checked(container: Any) -> int:
    """The C-speed work ``_open`` did on ``container``, in items."""
    size = len(container)
    if size < _FLAT_CHECK_MIN:
        return 0
    return 2 * size if type(container) is dict else size


class Walker:
    """Measures logical sizes within one evaluation, remembering what it measured.

    Values must not change while a walker remembers them (expressions never mutate).
    Not thread-safe.

    Attributes:
        work: items' worth of walking done and not yet paid for (see :meth:`take_work`).

    """

    __slots__ = ("_known", "work")

    def __init__(self) -> None:
        # id -> (value, size): the value is kept so that its id is not reused meanwhile.
        self._known: dict[int, tuple[Any, int]] = {}
        self.work = 0

    def take_work(self) -> int:
        """The walking done since the last call, in items (then reset to zero)."""
        work, self.work = self.work, 0
        return work

    def size(
        self,
        value: Any,
        cap: int,
        *,
        work_cap: int | None = None,
        strict: bool = True,
        what: str = "the value",
    ) -> int:
        """The logical size of ``value``, or ``cap + 1`` as soon as it passes ``cap``.

        A value that contains itself is infinitely large: ``cap + 1``. The walk's work
        is at most about ``FRAME_ITEMS`` times the size, and never more than
        ``work_cap`` (when given).

        Raises:
            WalkTooLong: the walk would do more than ``work_cap`` work.
            TypeError: with ``strict``, ``value`` holds something that is not plain data
                (None, bool, int, float, str, list, tuple, set, dict). Without it such a
                value counts as a scalar (only a notebook's own context can hold one).

        """
        kind = type(value)
        if kind is str:
            return len(value)
        if kind in _FLAT:
            return 0
        if kind not in _CONTAINERS:
            if strict:
                raise TypeError(
                    f"{what} holds a value of type {kind.__name__}, which is not plain data"
                )
            return 0
        known = self._known
        hit = known.get(id(value))
        if hit is not None:
            return hit[1]
        return self._walk(value, cap, work_cap, strict, what)

    def _walk(self, value: Any, cap: int, work_cap: int | None, strict: bool, what: str) -> int:
        known = self._known
        over = cap + 1
        most_work = (cap + 1) * (FRAME_ITEMS + CHILD_ITEMS + 2) if work_cap is None else work_cap
        if len(value) > cap:
            return over  # before anything scans it
        frame = _open(value)
        work = FRAME_ITEMS + _checked(value)
        if frame[2] > cap:
            self.work += work
            return over
        stack = [frame]
        walking = {id(value)}
        opaque = False  # a non-plain leaf: sizes that hold it are not remembered
        try:
            while True:
                frame = stack[-1]
                children = frame[1]
                if children is not None:
                    descended = False
                    for child in children:
                        work += CHILD_ITEMS
                        if work > most_work:
                            raise WalkTooLong(what)
                        ck = type(child)
                        if ck is str:
                            frame[2] += len(child)
                        elif ck in _FLAT:
                            continue
                        elif ck in _CONTAINERS:
                            work += CHILD_ITEMS
                            if not child:
                                continue  # empty: its parent counted it already
                            hit = known.get(id(child))
                            if hit is not None:
                                frame[2] += hit[1]
                            elif id(child) in walking:
                                return over  # contains itself
                            elif len(child) > cap:
                                return over
                            else:
                                inner = _open(child)
                                work += FRAME_ITEMS + _checked(child)
                                if inner[2] > cap:
                                    return over
                                if work > most_work:
                                    raise WalkTooLong(what)
                                walking.add(id(child))
                                stack.append(inner)
                                descended = True
                                break
                        elif strict:
                            raise TypeError(
                                f"{what} holds a value of type {ck.__name__}, "
                                "which is not plain data"
                            )
                        else:
                            opaque = True
                        if frame[2] > cap:
                            return over
                    if descended:
                        continue
                stack.pop()
                container, _, total = frame
                walking.discard(id(container))
                if not opaque:
                    known[id(container)] = (container, total)
                if not stack:
                    return int(total)
                parent = stack[-1]
                parent[2] += total
                if parent[2] > cap:
                    return over
        finally:
            self.work += work
