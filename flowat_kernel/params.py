"""Run parameters: coerce ``-p key=value`` strings and Python values to the input types."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from flowat_kernel.errors import ParameterError
from flowat_kernel.spec import InputSpec

__all__ = ["coerce_parameters", "parse_assignments"]

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


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


def _coerce(spec: InputSpec, value: Any) -> Any:
    kind = spec.type
    if isinstance(value, str) and kind != "str":
        text = value.strip()
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bool":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(f"{value!r} is not true or false")
        parsed = json.loads(text) if kind in ("list", "dict") else _maybe_json(text)
        value = parsed
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


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def coerce_parameters(inputs: Iterable[InputSpec], given: Mapping[str, Any]) -> dict[str, Any]:
    """Return every input's value: the given ones coerced to their types, defaults for the rest.

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
            values[name] = _coerce(specs[name], value)
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
