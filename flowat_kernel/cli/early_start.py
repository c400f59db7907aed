"""Work a command starts before it has loaded what it needs, to overlap the two.

``flowat run`` with its run placed in this process (the default) runs code steps in
processes forked from a template that imports FlowAt, IPython, numpy and pandas (about
0.8 s here). Started when the worker starts, the template made the first code step wait
for it; started as soon as the command line is parsed, it imports on the other core while
this process loads the store, Temporal's client and the engine.
"""

from __future__ import annotations

import contextlib

from flowat_kernel.config import settings
from flowat_kernel.errors import ConfigError

__all__ = ["start_step_processes"]


def start_step_processes(worker: str) -> None:
    """Start the step processes' template if a run with ``worker`` executes here."""
    with contextlib.suppress(ConfigError):
        here = worker in ("here", "always") or (worker == "auto" and settings().run_on == "here")
        if here:
            from flowat_kernel.engine.cells import warm

            warm()
