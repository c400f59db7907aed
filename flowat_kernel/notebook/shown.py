"""Graphs and published workflows show even when a magic's value is assigned.

IPython shows a cell's value only when the cell ends in an expression, so
``w = %flowat editor W`` or ``published = %flowat publish W`` used to show nothing, while
the documentation (and the quickstart) promise the editor and the published graph.
:func:`show_result` displays such a value as the magic returns it and marks it, and a
display formatter FlowAt registers for these types skips the value's second appearance in
the same cell (as the cell's result when it was not assigned). Shown again in a later
cell (``w`` alone), it displays as usual.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["show_result"]

_marks: set[int] = set()  # ids of the values a magic showed in the cell that runs now
_lock = threading.Lock()
_installed: set[int] = set()  # ids of shells whose formatter knows the types


def _types() -> tuple[type, ...]:
    from flowat_kernel.widgets.diff import VersionDiff
    from flowat_kernel.widgets.editor import GraphEditor
    from flowat_kernel.widgets.monitor import RunMonitor
    from flowat_kernel.workspace.published import Published

    return (GraphEditor, VersionDiff, RunMonitor, Published)


def _bundle(value: Any) -> dict[str, Any]:
    if hasattr(value, "_repr_mimebundle_"):
        found = value._repr_mimebundle_()
        data = found[0] if isinstance(found, tuple) else found
        return dict(data or {})
    return {"text/plain": str(value), "text/html": value._repr_html_()}


def _printer() -> Any:
    def show(value: Any) -> None:
        with _lock:
            if id(value) in _marks:
                _marks.discard(id(value))
                return  # the magic showed it already, in this very cell
        from IPython.display import publish_display_data

        publish_display_data(_bundle(value))

    return show


def _install(shell: Any) -> None:
    if id(shell) in _installed:
        return
    formatter = shell.display_formatter.ipython_display_formatter
    printer = _printer()
    for kind in _types():
        formatter.for_type(kind, printer)
    shell.events.register("pre_run_cell", _forget)
    _installed.add(id(shell))


def _forget(*_info: Any) -> None:
    """A new cell runs: what earlier cells showed may show again."""
    with _lock:
        _marks.clear()


def show_result(shell: Any, value: Any) -> Any:
    """Display ``value`` now if it is a graph or a published workflow; return it."""
    if shell is None or not hasattr(shell, "display_formatter"):
        return value
    if not isinstance(value, _types()):
        return value
    from IPython.display import display

    _install(shell)
    display(value)
    with _lock:
        _marks.add(id(value))
    return value
