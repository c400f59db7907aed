"""Loading and unloading the IPython extension (``%load_ext flowat_kernel``)."""

from __future__ import annotations

from typing import Any

__all__ = ["load", "unload"]

_magics: dict[int, Any] = {}


def load(ipython: Any) -> None:
    """Register the magics and the hook that remembers executed cell sources."""
    from flowat_kernel.notebook.magics import FlowAtMagics

    if id(ipython) in _magics:
        return
    magics = FlowAtMagics(ipython)
    ipython.register_magics(magics)

    def remember(info: Any) -> None:
        cell_id = getattr(info, "cell_id", None)
        magics.current_cell_id = cell_id
        magics.notebook.record_execution(cell_id, getattr(info, "raw_cell", "") or "")

    ipython.events.register("pre_run_cell", remember)
    _magics[id(ipython)] = (magics, remember)


def unload(ipython: Any) -> None:
    """Remove the hook (IPython keeps magics registered until restart)."""
    entry = _magics.pop(id(ipython), None)
    if entry is not None:
        ipython.events.unregister("pre_run_cell", entry[1])
