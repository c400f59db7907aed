"""Run parameters: coerce ``-p key=value`` strings and Python values to the input types.

The text conversions are strict and documented as a table in docs/user-guide.md
("Parameters on the command line"); tests/test_params.py walks that table.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from flowat_kernel.errors import ParameterError

if TYPE_CHECKING:
    from flowat_kernel.spec import InputSpec

__all__ = ["coerce_parameters", "parse_assignments"]

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """Split ``key=value`` strings; raise ParameterError on a missing ``=``."""
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"parameter {item!r} must look like key=value")
        result[key.strip()] = value
    return result


def _listing(inputs: Iterable[InputSpec]) -> str:
    shown = [f"{i.name} ({i.type}, default {json.dumps(i.default)})" for i in inputs]
    return ", ".join(shown) if shown else "none: the notebook has no cell tagged `parameters`"


def _strict_json(text: str) -> Any:
    """JSON as RFC 8259 has it: ``NaN`` and ``Infinity`` are not numbers."""

    def refuse(word: str) -> Any:
        raise ValueError(f"{word} is not a JSON number")

    return json.loads(text, parse_constant=refuse)


def _from_text(kind: str, value: str) -> Any:
    """The value text gives for an input of type ``kind`` (the table in the user guide)."""
    text = value.strip()
    if kind == "str":
        return value
    if kind == "int":
        if not _INT.fullmatch(text):
            number = float(text) if _FLOAT.fullmatch(text) else math.nan
            hint = f"write {int(number)}" if number.is_integer() else "write digits and a sign"
            raise ValueError(f"{value!r} is not a whole number; {hint}")
        return int(text)
    if kind == "float":
        if not _FLOAT.fullmatch(text):
            raise ValueError(f"{value!r} is not a decimal number such as 2.5, 3 or 1e-3")
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is too large for a float")
        return number
    if kind == "bool":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"{value!r} is not true or false (true/false, yes/no, on/off, 1/0)")
    if kind in ("list", "dict"):
        return _strict_json(text)
    try:  # any: JSON text is decoded, anything else stays the text
        return _strict_json(text)
    except ValueError:
        return value


def _coerce(spec: InputSpec, value: Any, from_text: bool) -> Any:
    kind = spec.type
    if isinstance(value, str) and from_text:
        value = _from_text(kind, value)
    checks: dict[str, tuple[type, ...]] = {
        "int": (int,),
        "float": (int, float),
        "str": (str,),
        "bool": (bool,),
        "list": (list, tuple),
        "dict": (dict,),
    }
    if kind in checks:
        if kind in ("int", "float") and isinstance(value, bool):
            raise ValueError("a bool is not a number")
        if not isinstance(value, checks[kind]):
            raise ValueError(f"expected {kind}, got {type(value).__name__}")
        if kind == "float":
            return float(value)  # type: ignore[arg-type]  # checked just above
        if kind == "list":
            return list(value)  # type: ignore[call-overload]
    return value


def coerce_parameters(
    inputs: Iterable[InputSpec], given: Mapping[str, Any], *, from_text: bool = True
) -> dict[str, Any]:
    """Return every input's value: the given ones coerced to their types, defaults for the rest.

    A string given for an input that is not a ``str`` is read as text (``-p rows=10``),
    by the table in the user guide ("Parameters on the command line"). With
    ``from_text=False`` values are taken as the Python values they are (a string stays
    a string; a string for an ``int`` input is an error), for callers that already hold
    typed values.

    Raises:
        ParameterError: an unknown name or a value of the wrong type; lists the inputs.

    """
    specs = {i.name: i for i in inputs}
    unknown = sorted(set(given) - set(specs))
    if unknown:
        raise ParameterError(
            f"unknown parameter {', '.join(unknown)}; this workflow's parameters are: "
            + _listing(specs.values())
        )
    values = {name: spec.default for name, spec in specs.items()}
    for name, value in given.items():
        try:
            values[name] = _coerce(specs[name], value, from_text)
        except (ValueError, TypeError) as exc:
            raise ParameterError(
                f"parameter {name}={value!r} is not a valid {specs[name].type} ({exc}); "
                "parameters are: " + _listing(specs.values())
            ) from exc
    for name, value in values.items():
        try:  # inputs travel as JSON
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ParameterError(
                f"parameter {name}={value!r} cannot travel as JSON ({exc}); "
                "pass numbers, strings, booleans, lists or dicts"
            ) from exc
    return values
