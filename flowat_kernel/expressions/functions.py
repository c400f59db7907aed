"""The helper functions an expression may call: ``FUNCTIONS``.

Python builtins keep their Python meaning (so a cell behaves the same in the kernel),
with three kinds of change: anything that could build a huge value checks
``max_length`` first (``range``, ``str``, ``join``, ``flatten``, ...), anything lazy
comes back as a list (``range``, ``enumerate``, ``zip``, ``keys``), and ``sum`` adds
numbers only. The FlowAt helpers (``default``, ``join``, ``json``, ``format_date``,
``pick``, ...) are the filters users know from other automation tools. Everything is
deterministic: no clock, no randomness, no environment, no I/O.
"""

from __future__ import annotations

import datetime as _dt
import json as _json
import re
from collections.abc import Callable, Iterable, Mapping, Sized
from typing import Any

from flowat_kernel.expressions.limits import (
    LimitExceeded,
    charge_membership,
    charge_walk,
    check_length,
    current_limits,
    deep_size,
)

__all__ = ["FUNCTIONS", "SCALAR_FUNCTIONS"]

_NUMBERS = (int, float, bool)


def length(value: Any) -> int:
    """Number of items in a list, dict, tuple or set, or characters in a string."""
    return len(value)


def _sum(items: Iterable[Any], start: int | float = 0) -> int | float:
    """Add numbers (only numbers: use ``join`` or ``flatten`` for strings and lists)."""
    total = start
    if type(total) not in _NUMBERS:
        raise TypeError("sum() adds numbers; use join() for strings or flatten() for lists")
    for item in items:
        if type(item) not in _NUMBERS:
            raise TypeError(
                f"sum() adds numbers, not {type(item).__name__}; "
                "use join() for strings or flatten() for lists"
            )
        total += item
    return total


def _round(number: int | float, ndigits: int | None = None) -> int | float:
    if ndigits is not None and type(ndigits) is int:
        limit = current_limits().max_power_exponent
        if abs(ndigits) > limit:
            raise LimitExceeded(
                "max_power_exponent",
                f"round() to {ndigits} digits is above max_power_exponent={limit}",
            )
    return round(number, ndigits)


def _str(value: Any = "") -> str:
    deep_size(value, "str()'s argument")
    return str(value)


def _range(*args: int) -> list[int]:
    span = range(*args)
    check_length(len(span), "range()")
    return list(span)


def _enumerate(items: Iterable[Any], start: int = 0) -> list[tuple[int, Any]]:
    return list(enumerate(items, start))


def _zip(*iterables: Iterable[Any], strict: bool = False) -> list[tuple[Any, ...]]:
    return list(zip(*iterables, strict=strict))


def _reversed(items: Any) -> list[Any]:
    return list(reversed(items))


def _set(items: Iterable[Any] = ()) -> set[Any]:
    """``set(items)``: hashing walks each item whole, so the budget pays for that first."""
    charge_walk(items, what="set()")
    return set(items)


def _dict(*args: Any, **kwargs: Any) -> dict[Any, Any]:
    """``dict(...)``, paying first for hashing its keys (and walking its values)."""
    charge_walk(*args, what="dict()")
    return dict(*args, **kwargs)


def _sorted(items: Iterable[Any], /, *, key: Any = None, reverse: bool = False) -> list[Any]:
    """``sorted(items, key=..., reverse=...)`` (an expression has no callable for ``key``).

    A sort compares each item about log2(n) times, and a comparison can walk both items
    whole: the budget pays ``logical size * log2(n)`` first.
    """
    times = max(len(items), 1).bit_length() if isinstance(items, Sized) else 1
    charge_walk(items, what="sorted()", times=times)
    return sorted(items, key=key, reverse=reverse)


def _max(*args: Any, **kwargs: Any) -> Any:
    """``max(...)``: each comparison may walk the items whole; the budget pays first."""
    charge_walk(*args, what="max()")
    return max(*args, **kwargs)


def _min(*args: Any, **kwargs: Any) -> Any:
    """``min(...)``: each comparison may walk the items whole; the budget pays first."""
    charge_walk(*args, what="min()")
    return min(*args, **kwargs)


def default(value: Any, fallback: Any) -> Any:
    """``fallback`` when ``value`` is ``None``.

    In an expression, ``value`` may also be missing (an unknown name, a missing key or
    index): ``default(order["discount"], 0)``.
    """
    return fallback if value is None else value


def join(items: Iterable[Any], sep: str = "") -> str:
    """Join items into one string, converting each with ``str``: ``join([1, 2], ", ")``."""
    parts = [item if type(item) is str else _str(item) for item in items]
    check_length(sum(len(p) for p in parts) + len(sep) * max(len(parts) - 1, 0), "join()")
    return sep.join(parts)


def json(value: Any) -> str:
    """``value`` as JSON text, with sorted keys (the same value gives the same text)."""
    deep_size(value, "json()'s argument")
    return _json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)


def from_json(text: str) -> Any:
    """Parse JSON text into plain data."""
    if type(text) is not str:
        raise TypeError(f"from_json() takes a string, not {type(text).__name__}")
    return _json.loads(text)


def _to_datetime(value: Any) -> _dt.datetime | _dt.date:
    if isinstance(value, _dt.date):  # datetime is a date too
        return value
    if type(value) in (int, float):
        return _dt.datetime.fromtimestamp(value, tz=_dt.UTC)
    if type(value) is str:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            return _dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO 8601 date or time: {value!r}") from None
    raise TypeError(f"expected an ISO 8601 string or epoch seconds, not {type(value).__name__}")


# strftime directives that are the same everywhere; widths and flags are refused.
_DIRECTIVE = re.compile(r"%(.)", re.DOTALL)
_SAFE_DIRECTIVES = frozenset("aAbBdHIjmMpSUwWyYzZfGuV%")
_MAX_FORMAT = 200


def format_date(value: Any, fmt: str | None = None) -> str:
    """Format a date: ``format_date("2024-05-01T12:00:00Z", "%d %b %Y")`` -> ``01 May 2024``.

    Args:
        value: an ISO 8601 string, epoch seconds (UTC), or a ``date``/``datetime``.
        fmt: a ``strftime`` format; ``None`` gives ISO 8601.

    """
    moment = _to_datetime(value)
    if fmt is None:
        return moment.isoformat()
    if type(fmt) is not str or len(fmt) > _MAX_FORMAT:
        raise ValueError(f"format_date() takes a strftime format of at most {_MAX_FORMAT} chars")
    for match in _DIRECTIVE.finditer(fmt):
        if match.group(1) not in _SAFE_DIRECTIVES:
            raise ValueError(
                f"format_date(): %{match.group(1)} is not supported "
                f"(use one of %{' %'.join(sorted(_SAFE_DIRECTIVES - {'%'}))} or %%)"
            )
    if fmt.endswith("%") and not fmt.endswith("%%"):
        raise ValueError("format_date(): the format ends with a lone %")
    return moment.strftime(fmt)


def parse_date(value: Any, fmt: str | None = None) -> str:
    """Parse a date or time into an ISO 8601 string.

    Args:
        value: ISO 8601 text (a trailing ``Z`` is UTC), epoch seconds, or text in ``fmt``.
        fmt: a ``strptime`` format for non-ISO text, e.g. ``"%d/%m/%Y"``.

    """
    if fmt is not None:
        if type(value) is not str or type(fmt) is not str or len(fmt) > _MAX_FORMAT:
            raise TypeError("parse_date(text, fmt) takes two strings")
        return _dt.datetime.strptime(value, fmt).isoformat()
    return _to_datetime(value).isoformat()


def lower(text: str) -> str:
    """``text.lower()``."""
    return text.lower()


def upper(text: str) -> str:
    """``text.upper()``."""
    return text.upper()


def strip(text: str, chars: str | None = None) -> str:
    """``text.strip(chars)``."""
    return text.strip(chars)


def split(text: str, sep: str | None = None, maxsplit: int = -1) -> list[str]:
    """``text.split(sep, maxsplit)``."""
    return text.split(sep, maxsplit)


def replace(text: str, old: str, new: str, count: int = -1) -> str:
    """``text.replace(old, new, count)``, refused if the result would be too long."""
    hits = text.count(old)
    if count >= 0:
        hits = min(hits, count)
    check_length(len(text) + hits * (len(new) - len(old)), "replace()")
    return text.replace(old, new, count)


def startswith(text: str, prefix: str | tuple[str, ...]) -> bool:
    """``text.startswith(prefix)``."""
    return text.startswith(prefix)


def endswith(text: str, suffix: str | tuple[str, ...]) -> bool:
    """``text.endswith(suffix)``."""
    return text.endswith(suffix)


def contains(container: Any, item: Any) -> bool:
    """``item in container`` (substring, list item or dict key)."""
    charge_membership(item, container, "contains()")
    return item in container


def keys(mapping: Mapping[Any, Any]) -> list[Any]:
    """The keys of a dict, as a list."""
    return list(mapping.keys())


def values(mapping: Mapping[Any, Any]) -> list[Any]:
    """The values of a dict, as a list."""
    return list(mapping.values())


def items(mapping: Mapping[Any, Any]) -> list[tuple[Any, Any]]:
    """The ``(key, value)`` pairs of a dict, as a list."""
    return list(mapping.items())


def pick(mapping: Mapping[Any, Any], *names: Any) -> dict[Any, Any]:
    """A dict with only the given keys (those present): ``pick(user, "id", "email")``."""
    charge_walk(names, what="pick()")
    return {name: mapping[name] for name in names if name in mapping}


def omit(mapping: Mapping[Any, Any], *names: Any) -> dict[Any, Any]:
    """A dict without the given keys: ``omit(user, "password")``."""
    charge_walk(names, what="omit()")
    dropped = set(names)
    return {key: value for key, value in mapping.items() if key not in dropped}


def flatten(nested: Iterable[Any]) -> list[Any]:
    """Flatten one level: ``flatten([[1, 2], [3], 4])`` -> ``[1, 2, 3, 4]``."""
    nested = list(nested)
    check_length(sum(len(x) if type(x) in (list, tuple) else 1 for x in nested), "flatten()")
    out: list[Any] = []
    for x in nested:
        if type(x) in (list, tuple):
            out.extend(x)
        else:
            out.append(x)
    return out


def _freeze(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return (dict, frozenset((k, _freeze(v)) for k, v in value.items()))
    if kind in (list, tuple):
        return (kind, tuple(_freeze(v) for v in value))
    if kind is set:
        return (set, frozenset(value))
    return value


def unique(values: Iterable[Any]) -> list[Any]:
    """Items without repeats, first occurrence kept: ``unique([1, 2, 1])`` -> ``[1, 2]``.

    Dicts and lists are compared by value (in linear time, not pairwise).
    """
    values = list(values)
    deep_size(values, "unique()'s argument")
    seen: set[Any] = set()
    out = []
    for value in values:
        key = _freeze(value)
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out


#: name -> helper. The notebook kernel offers these very functions interactively.
FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    # Python builtins (Python semantics, bounded)
    "abs": abs,
    "all": all,
    "any": any,
    "bool": bool,
    "dict": _dict,
    "enumerate": _enumerate,
    "float": float,
    "int": int,
    "len": len,
    "length": length,
    "list": list,
    "max": _max,
    "min": _min,
    "range": _range,
    "reversed": _reversed,
    "round": _round,
    "set": _set,
    "sorted": _sorted,
    "str": _str,
    "sum": _sum,
    "tuple": tuple,
    "zip": _zip,
    # FlowAt helpers
    "contains": contains,
    "default": default,
    "endswith": endswith,
    "flatten": flatten,
    "format_date": format_date,
    "from_json": from_json,
    "items": items,
    "join": join,
    "json": json,
    "keys": keys,
    "lower": lower,
    "omit": omit,
    "parse_date": parse_date,
    "pick": pick,
    "replace": replace,
    "split": split,
    "startswith": startswith,
    "strip": strip,
    "unique": unique,
    "upper": upper,
    "values": values,
}

#: Helpers whose cost does not grow with their arguments' size (the budget charges one
#: operation for them; the others also pay for the items they scan and build).
SCALAR_FUNCTIONS: frozenset[str] = frozenset({"len", "length", "bool", "default", "abs"})
