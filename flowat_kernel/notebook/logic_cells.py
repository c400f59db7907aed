"""Logic options of a step cell in the kernel: the same semantics as in a run.

``--if``, ``--switch``, ``--set`` and ``--filter`` cells and the ``--when``, ``--in``,
``--out`` and ``--foreach`` options are evaluated here with the very same sandboxed
expression language the workflow uses, over the notebook's namespace, so that a cell
behaves alike interactively and in a run. Waits return at once in the notebook: a
``--wait-for`` cell's body, if any, is the payload it stands in for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, MutableMapping
from typing import Any

from flowat_kernel.compiler.header import StepHeader
from flowat_kernel.compiler.names import RUNTIME_NAMES, analyse_source
from flowat_kernel.errors import FlowAtError
from flowat_kernel.expressions import (
    FUNCTIONS,
    ExpressionError,
    evaluate,
    parse,
    parse_assignments,
    run_assignments,
)
from flowat_kernel.spec.model import expression_body

__all__ = ["is_logic_cell", "run_logic_cell"]


def is_logic_cell(header: StepHeader) -> bool:
    """Whether the cell needs more than running its body as Python."""
    return bool(header.logic or header.when or header.foreach or header.map_in or header.map_out)


def _interactive_run() -> dict[str, Any]:
    return {
        "id": None,
        "workflow": None,
        "version": None,
        "started_at": dt.datetime.now(dt.UTC).isoformat(),
        "parameters": {},
    }


def run_logic_cell(
    namespace: MutableMapping[str, Any],
    header: StepHeader,
    cell: str,
    execute: Callable[[], Any],
) -> Any:
    """Run one step cell that has logic options; return what the cell displays.

    Args:
        namespace: the notebook's namespace; results are bound in it.
        header: the parsed ``%%flowat step`` line.
        cell: the cell body.
        execute: runs the body as Python (code and action steps).

    Raises:
        FlowAtError: an expression failed (its step, expression and position).

    """
    name = header.name

    def value(text: str, extra: dict[str, Any] | None = None) -> Any:
        try:
            return evaluate(text, _context(namespace, parse(text).names, extra), step=name)
        except ExpressionError as exc:
            raise FlowAtError(str(exc)) from None

    if header.merge:
        # As in a run: names of a branch that was skipped read as None.
        for missing in sorted(_reads(header, cell) - namespace.keys()):
            namespace[missing] = None
    if header.when is not None and not value(header.when):
        print(f"step {name!r} skipped: --when {header.when} is false")
        return None
    for target, text in header.map_in:
        namespace[target] = value(text)
    result: Any = None
    logic = header.logic
    if logic in ("if", "switch"):
        result = value(expression_body(cell))
        namespace[name] = bool(result) if logic == "if" else result
        result = namespace[name]
    elif logic == "set":
        try:
            parsed = parse_assignments(cell, step=name)
            reads = frozenset(n for _, e in parsed for n in e.names)
            namespace.update(run_assignments(parsed, _context(namespace, reads), step=name))
        except ExpressionError as exc:
            raise FlowAtError(str(exc)) from None
    elif logic == "filter":
        assert header.filter_items is not None
        items = value(header.filter_items)
        predicate = expression_body(cell)
        namespace[name] = [
            item
            for index, item in enumerate(items)
            if value(predicate, {"item": item, "index": index})
        ]
        result = namespace[name]
    elif logic == "wait":
        body = expression_body(cell)
        if header.signal is not None:
            namespace[name] = value(body) if body else None
            print(
                f"step {name!r}: in a run it waits for signal {header.signal!r} "
                f"(flowat signal RUN {header.signal}); here it takes "
                + ("the cell's value" if body else "None")
            )
        else:
            namespace[name] = dt.datetime.now(dt.UTC).isoformat()
            print(f"step {name!r}: in a run it waits {header.wait_seconds:g}s; here it goes on")
    elif header.foreach is not None:
        _foreach(namespace, header, cell, value(header.foreach), execute)
    else:
        result = execute()
    for target, text in header.map_out:
        namespace[target] = value(text)
    return result


def _reads(header: StepHeader, cell: str) -> set[str]:
    """The names a step cell reads from outside itself (logic bodies as expressions)."""
    names: set[str] = set()
    try:
        if header.logic == "set":
            for _, parsed in parse_assignments(cell, step=header.name):
                names |= parsed.names
        elif header.logic is not None:
            body = expression_body(cell)
            names |= parse(body).names if body else set()
        else:
            defined: set[str] = set()
            for statement in analyse_source(cell):
                names |= statement.reads - defined
                defined |= statement.defines
    except (ExpressionError, SyntaxError, ValueError):
        return set()  # the cell itself reports the problem when it runs
    reserved = RUNTIME_NAMES | FUNCTIONS.keys() | {"item", "index", "run"}
    return {n for n in names if n.isidentifier() and n not in reserved}


def _foreach(
    namespace: MutableMapping[str, Any],
    header: StepHeader,
    cell: str,
    items: Any,
    execute: Callable[[], Any],
) -> None:
    """Run the body once per item; each name it assigns becomes the list of its values."""
    if not isinstance(items, list | tuple):
        raise FlowAtError(
            f"step {header.name!r}: --foreach must give a list; it gave a {type(items).__name__}"
        )
    assigned = [n for s in analyse_source(cell) if s.kind == "data" for n in sorted(s.defines)]
    if header.action is not None or header.workflow is not None:
        assigned = [header.name]  # the action's output or the child's outputs, per item
    collected: dict[str, list[Any]] = {n: [] for n in assigned}
    for index, item in enumerate(items):
        namespace["item"] = item
        namespace["index"] = index
        execute()
        for target in assigned:
            collected[target].append(namespace.get(target))
    namespace.update(collected)
    return None


def _context(
    namespace: MutableMapping[str, Any], names: frozenset[str], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The names an expression reads, from the namespace (``run`` as in a run)."""
    context = {n: namespace[n] for n in names if n in namespace}
    if "run" in names and "run" not in context:
        context["run"] = _interactive_run()
    context.update(extra or {})
    return context
