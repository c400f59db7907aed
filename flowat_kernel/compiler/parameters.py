"""The ``parameters`` cell: its assignments become the workflow's typed inputs.

Inputs travel as JSON (the run record, the REST API, Temporal), so a default becomes an
input only when JSON carries it back as the same Python value of the same type: ``None``,
bools, ints, finite floats (``-0.0`` included), strings, and lists and string-keyed dicts
of those. Anything else (``b"ab"``, ``1j``, ``1e999``, ``...``, tuples, sets, calls such
as ``datetime.date(2024, 1, 1)``, f-strings with fields, other statements) is a
diagnostic that names the line, says why and what to write instead; the compiler never
changes a default silently. ``name = other`` copies the default of a parameter assigned
above it, as running the cell does.
"""

from __future__ import annotations

import ast
import copy
import json
import math
from typing import Any

from flowat_kernel.diagnostics import Diagnostic
from flowat_kernel.spec import InputSpec, ParamType

__all__ = ["parse_parameters"]

_ANNOTATIONS: dict[str, ParamType] = {
    "int": "int",
    "float": "float",
    "str": "str",
    "bool": "bool",
    "list": "list",
    "dict": "dict",
    "Any": "any",
    "any": "any",
    "object": "any",
}

_WRITE = (
    "a default must be a literal value: write a number, a string, True/False, None, "
    "or a list or dict of those"
)


class _Refused(ValueError):
    """A default that cannot be a workflow input; the message says why and what to write."""


def _type_of(value: Any) -> ParamType:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return "any"


def _annotation(node: ast.expr) -> ParamType | None:
    name = ast.unparse(node)
    base = name.split("[", 1)[0].split(".")[-1]
    return _ANNOTATIONS.get(base)


def _constant(node: ast.Constant, source: str) -> Any:
    value = node.value
    if isinstance(value, int) and value.bit_length() > 14_000:  # past str()'s 4300 digits
        raise _Refused(
            "an integer this long cannot travel as JSON (Python converts at most 4300 "
            "digits to text); write it as a string and convert it with int() in a step"
        )
    text = ast.get_source_segment(source, node) or ast.unparse(node)
    if value is Ellipsis:
        raise _Refused(
            "`...` is not a value a workflow input can carry; write None for "
            "'no value' and give the value when the run starts"
        )
    if isinstance(value, bytes):
        raise _Refused(
            f"bytes ({text}) cannot travel as JSON, which carries inputs; write the text as "
            "a str and call .encode() on it in a step"
        )
    if isinstance(value, complex):
        raise _Refused(
            f"a complex number ({text}) cannot travel as JSON; write its real and imaginary "
            "parts as floats and build complex(re, im) in a step"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise _Refused(
            f"{text} is {value} in Python (too large for a float), which JSON cannot carry; "
            "write a finite number, or "
            f"the string '{value}' and convert it with float() in a step"
        )
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _Refused(
                f"the string holds {exc.object[exc.start : exc.end]!r}, a lone surrogate that "
                "is not text JSON can carry; remove it"
            ) from None
    return value


def _number(value: Any, node: ast.expr) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Refused(f"`{ast.unparse(node)}` is computed when the cell runs; {_WRITE}")
    return value


def _literal(node: ast.expr, known: dict[str, Any], source: str) -> Any:
    """The value of ``node`` written as a literal, or :class:`_Refused` saying why not.

    ``known`` holds the defaults of the parameters assigned above; ``source`` is the
    cell's text, for quoting what the user wrote.
    """
    if isinstance(node, ast.Constant):
        return _constant(node, source)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _number(_literal(node.operand, known, source), node)
        return -operand if isinstance(node.op, ast.USub) else +operand
    if isinstance(node, ast.BinOp) and any(
        isinstance(side, ast.Constant) and isinstance(side.value, complex)
        for side in (node.left, node.right)
    ):
        raise _Refused(
            f"a complex number ({ast.unparse(node)}) cannot travel as JSON; write its real "
            "and imaginary parts as floats and build complex(re, im) in a step"
        )
    if isinstance(node, ast.List):
        if any(isinstance(e, ast.Starred) for e in node.elts):
            raise _Refused(f"`{ast.unparse(node)}` unpacks when the cell runs; {_WRITE}")
        return [_literal(e, known, source) for e in node.elts]
    if isinstance(node, ast.Tuple):
        raise _Refused(
            f"a tuple ({ast.unparse(node)}) would arrive as a list, since inputs travel as "
            "JSON; write a list [...] and convert it with tuple(...) in a step if needed"
        )
    if isinstance(node, ast.Set):
        raise _Refused(
            f"a set ({ast.unparse(node)}) cannot travel as JSON; write a list [...] and "
            "convert it with set(...) in a step"
        )
    if isinstance(node, ast.Dict):
        result: dict[str, Any] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                raise _Refused(f"`**{ast.unparse(value)}` unpacks when the cell runs; {_WRITE}")
            name = _literal(key, known, source)
            if not isinstance(name, str):
                raise _Refused(
                    f"the dict key {ast.unparse(key)} would arrive as the string "
                    f"{json.dumps(str(name))}, since JSON object keys are strings; "
                    "write string keys"
                )
            result[name] = _literal(value, known, source)
        return result
    if isinstance(node, ast.Name):
        if node.id in known:  # as the cell does: a copy of that parameter's default
            return copy.deepcopy(known[node.id])
        raise _Refused(f"`{node.id}` is not a parameter assigned above; {_WRITE}")
    if isinstance(node, ast.JoinedStr):
        if all(isinstance(v, ast.Constant) for v in node.values):
            return "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
        raise _Refused(
            f"the f-string {ast.unparse(node)} is formatted when the cell runs; write the "
            "text itself, or format it in a step"
        )
    text = ast.unparse(node)
    hint = ""
    if "date" in text or "time" in text:
        hint = " (for a date or time, write the ISO string, such as '2024-01-01', and "
        hint += "convert it with datetime.date.fromisoformat(...) in a step)"
    raise _Refused(f"`{text}` is computed when the cell runs; {_WRITE}{hint}")


def _same(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down (``-0.0`` is not ``0.0``)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return math.copysign(1.0, a) == math.copysign(1.0, b) and a == b
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _travels(value: Any) -> None:
    """Refuse a value that does not come back from JSON as itself."""
    try:
        back = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise _Refused(f"it cannot travel as JSON ({exc}); {_WRITE}") from None
    if not _same(value, back):
        raise _Refused(f"it would arrive as {back!r} after travelling as JSON; {_WRITE}")


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _typed(name: str, default: Any, annotation: ParamType | None) -> tuple[ParamType, Any]:
    kind = annotation or _type_of(default)
    if default is None or kind == "any":
        return kind, default
    if kind == "float" and isinstance(default, int) and not isinstance(default, bool):
        try:
            converted = float(default)
        except OverflowError:
            converted = math.inf
        if converted != default:
            raise _Refused(
                f"the default {default} is not exactly a float ({converted!r}); "
                f"write it as a float, or annotate it `{name}: int`"
            )
        return kind, converted
    if _type_of(default) != kind:
        raise _Refused(
            f"the default {default!r} is {_article(_type_of(default))}, not "
            f"{_article(kind)} as annotated; write {_article(kind)}, or change the annotation"
        )
    return kind, default


def _assignments(node: ast.stmt) -> list[tuple[str, ast.expr, ParamType | None]]:
    """(name, value, annotation) of each parameter the statement sets, or :class:`_Refused`."""
    if isinstance(node, ast.AnnAssign):
        if not isinstance(node.target, ast.Name):
            raise _Refused(f"`{ast.unparse(node.target)}` is not a name; write `name = value`")
        if node.value is None:
            raise _Refused(
                f"parameter {node.target.id!r} has no default; write "
                f"`{ast.unparse(node)} = <default>`"
            )
        return [(node.target.id, node.value, _annotation(node.annotation))]
    if isinstance(node, ast.Assign):
        found: list[tuple[str, ast.expr, ParamType | None]] = []
        for target in node.targets:
            if isinstance(target, ast.Name):
                found.append((target.id, node.value, None))
            elif (
                isinstance(target, ast.Tuple | ast.List)
                and isinstance(node.value, ast.Tuple | ast.List)
                and len(target.elts) == len(node.value.elts)
                and all(isinstance(t, ast.Name) for t in target.elts)
                and not any(isinstance(v, ast.Starred) for v in node.value.elts)
            ):
                found += [
                    (t.id, v, None)
                    for t, v in zip(target.elts, node.value.elts, strict=True)
                    if isinstance(t, ast.Name)
                ]
            else:
                raise _Refused(
                    f"`{ast.unparse(target)} = ...` does not assign plain names; write one "
                    "`name = value` per parameter"
                )
        return found
    if isinstance(node, ast.AugAssign):
        raise _Refused(
            f"`{ast.unparse(node)}` changes a parameter after setting it; write its final "
            "value in one assignment"
        )
    raise _Refused(
        "the parameters cell may only hold assignments like `name = 10`; move "
        f"`{ast.unparse(node).splitlines()[0]}` into a step"
    )


def _parse(source: str, cell: int | None) -> tuple[ast.Module | None, list[Diagnostic]]:
    try:
        return ast.parse(source), []
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        if line is None and "\0" in source:
            line = source[: source.find("\0")].count("\n") + 1
        message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        return None, [
            Diagnostic("syntax-error", f"parameters cell: {message}", cell=cell, line=line)
        ]
    except (RecursionError, MemoryError):
        return None, [
            Diagnostic(
                "syntax-error",
                "parameters cell: nested too deeply for Python to read; write flatter values",
                cell=cell,
            )
        ]


def parse_parameters(source: str, cell: int | None) -> tuple[list[InputSpec], list[Diagnostic]]:
    """Read typed inputs from the parameters cell's source.

    Each ``name = value`` (or ``name: type = value``, ``a = b = value``,
    ``a, b = 1, 2``) becomes an input whose type is the annotation or the value's type.
    Comments, blank lines, ``pass`` and bare strings are ignored. Every other statement,
    and every default that would not arrive as itself (see the module docstring), is a
    diagnostic naming its line; nothing here raises.
    """
    tree, problems = _parse(source, cell)
    if tree is None:
        return [], problems
    inputs: dict[str, InputSpec] = {}
    known: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Pass) or (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            continue
        name = ""
        try:
            for name, value, annotation in _assignments(node):
                if not (name.isascii() and name.isidentifier()):
                    raise _Refused(
                        "a parameter name is ASCII letters, digits and _ (it is a workflow "
                        "input's name everywhere, the command line included); rename it"
                    )
                default = _literal(value, known, source)
                _travels(default)
                kind, default = _typed(name, default, annotation)
                inputs[name] = InputSpec(name=name, type=kind, default=default)
                known[name] = default
        except _Refused as exc:
            message = str(exc)
            if name and not message.startswith("parameter"):
                message = f"parameter {name!r}: {message}"
            problems.append(Diagnostic("bad-parameter", message, cell=cell, line=node.lineno))
            known.pop(name, None)
            inputs.pop(name, None)
        except Exception as exc:  # a last guard: a diagnostic, never a crash
            problems.append(
                Diagnostic(
                    "bad-parameter",
                    f"this line cannot be read as a parameter ({type(exc).__name__}: {exc}); "
                    f"{_WRITE}",
                    cell=cell,
                    line=node.lineno,
                )
            )
    return list(inputs.values()), problems
