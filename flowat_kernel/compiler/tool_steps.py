r"""``%%flowat step NAME --tool``: the function an agent may call, and its parameters.

A tool step's cell defines ``def NAME(param: type = default, ...)``; its annotated
parameters become the JSON schema the model is shown (and its arguments are checked
against), its docstring the tool's description. Pure: source text in, a schema out.

Example::

    >>> schema = tool_signature('def stock(item: str, n: int = 1):\n    "Count."', "stock")
    >>> schema["properties"]["n"], schema["required"], schema["description"]
    ({'type': 'integer', 'default': 1}, ['item'], 'Count.')
"""

from __future__ import annotations

import ast
from typing import Any

__all__ = ["TOOL_TYPES", "ToolSignatureError", "tool_signature"]

#: The annotations a tool parameter may have, and the JSON schema each stands for.
TOOL_TYPES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "list": {"type": "array"},
    "dict": {"type": "object"},
}


class ToolSignatureError(ValueError):
    """The cell does not define the tool's function as it must; ``line`` is 1-based."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def _type_of(annotation: ast.expr | None, param: str) -> dict[str, Any]:
    node = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    if isinstance(node, ast.Name) and node.id in TOOL_TYPES:
        return dict(TOOL_TYPES[node.id])
    line = annotation.lineno if annotation is not None else None
    raise ToolSignatureError(
        f"parameter {param!r} of a tool needs a type the model can send: annotate it as "
        f"{', '.join(TOOL_TYPES)} (list[...] and dict[...] too)",
        line,
    )


def tool_signature(source: str, name: str) -> dict[str, Any]:
    """The JSON schema of the parameters of ``def name(...)`` in ``source``.

    Raises:
        ToolSignatureError: no such function, or a parameter without a usable type or
            with a default that is not a literal; says what to write instead.

    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ToolSignatureError(f"the cell is not valid Python: {exc.msg}", exc.lineno) from None
    found = [
        n
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name
    ]
    if not found:
        raise ToolSignatureError(
            f"a --tool step defines the function the model calls, named as the step: add "
            f"`def {name}(param: str, ...):` (with a docstring saying what it does) to the cell"
        )
    function = found[-1]
    if isinstance(function, ast.AsyncFunctionDef):
        raise ToolSignatureError(f"{name} is async; define it with plain def", function.lineno)
    args = function.args
    if args.vararg or args.kwarg or args.posonlyargs:
        raise ToolSignatureError(
            f"{name}: the model sends named arguments; drop *args, **kwargs and /",
            function.lineno,
        )
    positional = args.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    params = list(zip(positional, defaults, strict=True))
    params += list(zip(args.kwonlyargs, args.kw_defaults, strict=True))
    properties: dict[str, Any] = {}
    required: list[str] = []
    for arg, default in params:
        schema = _type_of(arg.annotation, arg.arg)
        if default is None:
            required.append(arg.arg)
        else:
            try:
                schema["default"] = ast.literal_eval(default)
            except ValueError:
                raise ToolSignatureError(
                    f"the default of {arg.arg!r} must be a literal (a number, a string, ...)",
                    default.lineno,
                ) from None
        properties[arg.arg] = schema
    out: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        out["required"] = required
    doc = ast.get_docstring(function)
    if doc:
        out["description"] = doc
    return out
