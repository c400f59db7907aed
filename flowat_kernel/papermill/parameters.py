"""The parameters of a papermill run, as papermill defines them.

papermill hands an engine only the notebook. When a run is given parameters, papermill
writes them twice: as Python values in ``metadata.papermill.parameters`` and as source
in a cell tagged ``injected-parameters`` (what a kernel executes). When a run is given
none, both are left as an earlier run wrote them, or absent; a kernel then executes the
injected cell the notebook carries, whatever it holds. So:

- the run's parameters are what the ``injected-parameters`` cell assigns: exactly the
  Python values papermill parsed (``metadata.papermill.parameters``) when the cell is
  papermill's own rendering of them, else the cell's literals (an injected cell an
  earlier run left); a notebook without that cell has no parameters for this run, and
  ``metadata.papermill.parameters`` alone is never used;
- no second decoding: ``-p msg '"Hello"'`` stays the string ``"Hello"`` with its
  quotes, ``-r n 42`` the string ``42``;
- every value is accepted with the type papermill gave it: :func:`fit_inputs` widens an
  input's declared type where the value would be converted or refused (``-p name 2024``
  for a string parameter, ``-p n 5.0`` for an integer), and adds the names the
  parameters cell does not declare (papermill has already warned
  ``Passed unknown parameter``).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any

from flowat_kernel.compiler import Cell
from flowat_kernel.errors import ParameterError
from flowat_kernel.spec import InputSpec

__all__ = ["INJECTED_TAG", "fit_inputs", "run_parameters", "with_declared"]

INJECTED_TAG = "injected-parameters"

#: The Python types a value keeps unchanged under each input type (see ``params``).
_KEEPS: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float,),
    "str": (str,),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


def _source(cell: Mapping[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _injected(notebook: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for cell in notebook.get("cells", []):
        tags = (cell.get("metadata") or {}).get("tags") or []
        if cell.get("cell_type") == "code" and INJECTED_TAG in tags:
            return dict(cell)
    return None


def _literals(source: str) -> dict[str, Any]:
    """The ``name = literal`` assignments of an injected cell (papermill writes only those)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParameterError(
            f"the injected-parameters cell does not parse (line {exc.lineno}: {exc.msg}); "
            "remove the cell or give the parameters again with -p"
        ) from exc
    values: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            try:
                value = _literal(node.value)
            except ValueError:
                pass
            else:
                for target in node.targets:
                    values[target.id] = value  # type: ignore[attr-defined]  # checked above
                continue
        raise ParameterError(
            f"the injected-parameters cell, line {node.lineno}: `{ast.unparse(node)}` is not "
            "`name = literal`; remove the cell or give the parameters again with -p"
        )
    return values


def _literal(node: ast.expr) -> Any:
    """A literal, or ``float('nan')``/``float('inf')``/``float('-inf')`` as papermill writes."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "float"
        and len(node.args) == 1
        and not node.keywords
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value in ("nan", "inf", "-inf")
    ):
        return float(node.args[0].value)
    return ast.literal_eval(node)


def run_parameters(notebook: Mapping[str, Any], kernel_name: str, language: str) -> dict[str, Any]:
    """The parameters papermill gave this run (see the module's rules)."""
    cell = _injected(notebook)
    if cell is None:
        return {}
    source = _source(cell)
    given = ((notebook.get("metadata") or {}).get("papermill") or {}).get("parameters")
    if isinstance(given, Mapping):
        from papermill.translators import translate_parameters

        try:
            rendered = translate_parameters(kernel_name, language, dict(given), "Parameters")
        except Exception:  # no translator: compare nothing, read the cell
            rendered = None
        if rendered is not None and rendered.strip() == source.strip():
            return dict(given)
    return _literals(source)


def with_declared(cells: Sequence[Cell], names: Sequence[str]) -> list[Cell]:
    """``cells`` with ``names`` the parameters cell does not assign added to it.

    A notebook without a parameters cell gets one, after the others (so the indices of
    the notebook's own cells stay theirs; inputs do not depend on where they are
    declared). Each added name is declared ``name = None`` so steps reading it bind to
    the input.
    """
    if not names:
        return list(cells)
    index = next((i for i, c in enumerate(cells) if c.is_parameters), None)
    declared: set[str] = set()
    if index is not None:
        try:
            tree = ast.parse(cells[index].source)
        except SyntaxError:
            tree = ast.Module(body=[], type_ignores=[])
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign):
                targets = [node.target]
            declared.update(t.id for t in targets if isinstance(t, ast.Name))
    extra = "".join(f"{name} = None\n" for name in names if name not in declared)
    if not extra:
        return list(cells)
    result = list(cells)
    if index is None:
        position = max((c.position for c in cells), default=0) + 1
        return [
            *result,
            Cell(source=extra, position=position, cell_type="code", tags=("parameters",)),
        ]
    old = result[index]
    source = old.source if old.source.endswith("\n") or not old.source else old.source + "\n"
    result[index] = Cell(
        source=source + extra,
        position=old.position,
        cell_type=old.cell_type,
        tags=old.tags,
        cell_id=old.cell_id,
    )
    return result


def _keeps(kind: str, value: Any) -> bool:
    if kind == "any":
        return not isinstance(value, str)  # a string for `any` would be decoded as JSON
    if kind in ("int", "float") and isinstance(value, bool):
        return False
    return isinstance(value, _KEEPS.get(kind, (object,)))


def fit_inputs(inputs: Sequence[InputSpec], given: Mapping[str, Any]) -> list[InputSpec]:
    """``inputs`` with each given value's input typed so the value arrives unchanged.

    An input whose type would convert or refuse the value papermill parsed becomes
    ``str`` (for a string) or ``any`` (anything else); declared types and defaults of
    the other inputs are kept.
    """
    fitted = []
    for spec in inputs:
        if spec.name in given and not _keeps(spec.type, given[spec.name]):
            kind = "str" if isinstance(given[spec.name], str) else "any"
            spec = spec.model_copy(update={"type": kind})
        fitted.append(spec)
    return fitted
