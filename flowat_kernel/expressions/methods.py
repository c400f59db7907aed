"""The methods an expression may call on plain values, per type.

Only side-effect-free methods are listed; nothing that mutates (``list.append``,
``dict.update``, ...), nothing that renders through a format string (``str.format``,
``format_map``: their ``{0.__class__}`` fields walk attributes), nothing that can blow
up its result without a size check (``expandtabs``). Methods that can grow their
result (``replace``, ``join``, ``center``, ...) check ``max_length`` first. Views
(``dict.keys()``) come back as lists, so every value stays plain data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flowat_kernel.expressions.limits import check_length

__all__ = ["METHODS", "METHOD_NAMES", "REFUSED_METHODS"]


def _replace(text: str, old: str, new: str, count: int = -1) -> str:
    if type(old) is str and type(new) is str:
        hits = text.count(old)
        if count >= 0:
            hits = min(hits, count)
        check_length(len(text) + hits * (len(new) - len(old)), "replace()")
    return text.replace(old, new, count)


def _join(sep: str, items: Any) -> str:
    parts = list(items)
    size = sum(len(p) for p in parts if type(p) is str) + len(sep) * max(len(parts) - 1, 0)
    check_length(size, "join()")
    return sep.join(parts)


def _padded(method: Callable[..., str]) -> Callable[..., str]:
    def pad(text: str, width: int, *args: str) -> str:
        check_length(width, f"{method.__name__}()")
        return method(text, width, *args)

    pad.__name__ = method.__name__
    return pad


def _zfill(text: str, width: int) -> str:
    check_length(width, "zfill()")
    return text.zfill(width)


_STR: dict[str, Callable[..., Any]] = {
    name: getattr(str, name)
    for name in (
        "capitalize",
        "casefold",
        "count",
        "endswith",
        "find",
        "index",
        "isalnum",
        "isalpha",
        "isdecimal",
        "isdigit",
        "islower",
        "isnumeric",
        "isspace",
        "istitle",
        "isupper",
        "lower",
        "lstrip",
        "partition",
        "removeprefix",
        "removesuffix",
        "rfind",
        "rindex",
        "rpartition",
        "rsplit",
        "rstrip",
        "split",
        "splitlines",
        "startswith",
        "strip",
        "swapcase",
        "title",
        "upper",
    )
}
_STR.update(
    replace=_replace,
    join=_join,
    center=_padded(str.center),
    ljust=_padded(str.ljust),
    rjust=_padded(str.rjust),
    zfill=_zfill,
)


def _keys(d: dict[Any, Any]) -> list[Any]:
    return list(d.keys())


def _values(d: dict[Any, Any]) -> list[Any]:
    return list(d.values())


def _items(d: dict[Any, Any]) -> list[tuple[Any, Any]]:
    return list(d.items())


#: type -> method name -> implementation called as ``impl(obj, *args, **kwargs)``.
METHODS: Mapping[type, Mapping[str, Callable[..., Any]]] = {
    str: _STR,
    dict: {"get": dict.get, "keys": _keys, "values": _values, "items": _items},
    list: {"index": list.index, "count": list.count},
    tuple: {"index": tuple.index, "count": tuple.count},
    int: {"bit_length": int.bit_length},
    bool: {"bit_length": int.bit_length},
    float: {"is_integer": float.is_integer},
}

#: Every method name callable on some type: anything else is refused when parsing.
METHOD_NAMES: frozenset[str] = frozenset(name for table in METHODS.values() for name in table)

#: Methods refused with a specific reason (the generic one covers everything else).
REFUSED_METHODS: Mapping[str, str] = {
    "format": "str.format is not allowed (its {0.attr} fields walk attributes): use an f-string",
    "format_map": "str.format_map is not allowed (its fields walk attributes): use an f-string",
    "expandtabs": "str.expandtabs is not allowed (it can grow a string without bound)",
    "encode": "str.encode is not allowed: bytes are not plain data",
}
