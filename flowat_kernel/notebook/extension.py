"""Loading and unloading the IPython extension (``%load_ext flowat_kernel``)."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["load", "unload"]

_magics: dict[int, Any] = {}


def load(ipython: Any) -> None:
    """Register the magics, output masking of secrets, and the cell-source hook."""
    from flowat_kernel.notebook.magics import FlowAtMagics
    from flowat_kernel.notebook.masking import install_masking
    from flowat_kernel.notebook.run_failure import quiet_step_failures

    if id(ipython) in _magics:
        return
    install_masking(ipython)
    quiet_step_failures()  # a failed step shows once: as the cell's error
    # Steps see ``flowat`` (the package) as they do in a worker.
    ipython.user_ns.setdefault("flowat", sys.modules["flowat_kernel"])
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
