"""The working directory each run started in this process runs its steps in.

A run placed ``here`` (see :data:`flowat_kernel.engine.launch.WorkerMode`) executes on
this process's own task queue with this process's working directory: the one it had
when the run started, not whatever it has when a step starts. The process's directory
can change meanwhile: papermill, for one, writes the output notebook from inside its own
``chdir`` to the input's folder while the run's steps go on (with ``--cwd`` the run
belongs to the other folder).

:func:`remember` keeps the directory of each run started here (the newest
:data:`KEPT` runs); :func:`directory_of` answers it for a step, and this process's
current directory for any other run (one from the shared queue).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

__all__ = ["KEPT", "directory_of", "remember"]

#: How many runs' directories are kept (the oldest are forgotten first).
KEPT = 4096

_directories: OrderedDict[str, str] = OrderedDict()
_lock = threading.Lock()


def remember(run_id: str, directory: str) -> None:
    """Run ``run_id``'s steps in ``directory``."""
    with _lock:
        _directories[run_id] = directory
        _directories.move_to_end(run_id)
        while len(_directories) > KEPT:
            _directories.popitem(last=False)


def directory_of(run_id: str | None) -> str:
    """Where a step of ``run_id`` runs: the run's own directory, else the current one."""
    with _lock:
        found = _directories.get(run_id) if run_id is not None else None
    return found if found is not None else os.getcwd()
