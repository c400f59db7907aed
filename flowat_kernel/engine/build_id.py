"""The build id FlowAt's workers give Temporal: a hash of the code they run.

Without one, the temporalio SDK derives it at every worker start by reading and
unmarshalling the bytecode of every loaded module (about a thousand in a FlowAt
worker: a quarter of a second on the machines here, before the worker polls). A
FlowAt worker's code is FlowAt's own package on this Python and this temporalio;
step code comes from the store, verified by hash, not from modules. So the id hashes
FlowAt's sources and those versions, once per process. FlowAt uses no worker
versioning, so the id only labels the worker in Temporal's history and UI.
"""

from __future__ import annotations

import functools
import hashlib
import platform
from pathlib import Path

__all__ = ["worker_build_id"]


#: FlowAt's package folder (this file is ``flowat_kernel/engine/build_id.py``).
_PACKAGE = Path(__file__).resolve().parents[1]


@functools.cache
def worker_build_id() -> str:
    """``flowat-<hash>``: a hash of FlowAt's sources, temporalio's version and Python's."""
    import temporalio

    digest = hashlib.sha256()
    for text in (temporalio.__version__, platform.python_version()):
        digest.update(text.encode() + b"\0")
    for source in sorted(_PACKAGE.rglob("*.py")):
        digest.update(source.relative_to(_PACKAGE).as_posix().encode() + b"\0")
        digest.update(source.read_bytes())
    return f"flowat-{digest.hexdigest()[:16]}"
