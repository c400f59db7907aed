"""The ``parameters`` cell: its assignments become the workflow's typed inputs."""

from __future__ import annotations

import ast
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


def _type_of(value: Any) -> ParamType:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return "any"


def _annotation(node: ast.expr) -> ParamType | None:
    name = ast.unparse(node)
    base = name.split("[", 1)[0].split(".")[-1]
    return _ANNOTATIONS.get(base)


def parse_parameters(source: str, cell: int | None) -> tuple[list[InputSpec], list[Diagnostic]]:
    """Read typed inputs from the parameters cell's source.

    Each ``name = literal`` (or ``name: type = literal``) becomes an input whose type is
    the annotation or the literal's type. Comments and blank lines are ignored;
    anything else is a diagnostic, since inputs must be plain data.
    """
    problems: list[Diagnostic] = []
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [], [
            Diagnostic("syntax-error", f"parameters cell: {exc.msg}", cell=cell, line=exc.lineno)
        ]
    inputs: dict[str, InputSpec] = {}
    for node in tree.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        annotation: ParamType | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
            annotation = _annotation(node.annotation)
        if not isinstance(target, ast.Name) or value is None:
            problems.append(
                Diagnostic(
                    "bad-parameter",
                    "the parameters cell may only hold assignments like `name = 10`",
                    cell=cell,
                    line=node.lineno,
                )
            )
            continue
        try:
            default = ast.literal_eval(value)
        except ValueError:
            problems.append(
                Diagnostic(
                    "bad-parameter",
                    f"parameter {target.id!r}: its default must be a literal "
                    f"(number, string, bool, None, list or dict), not `{ast.unparse(value)}`",
                    cell=cell,
                    line=node.lineno,
                )
            )
            continue
        if isinstance(default, tuple | set):
            default = list(default)
        kind = annotation or _type_of(default)
        if kind == "float" and isinstance(default, int) and not isinstance(default, bool):
            default = float(default)
        inputs[target.id] = InputSpec(name=target.id, type=kind, default=default)
    return list(inputs.values()), problems
