"""Connectors registered in the worker's process, handed to each step's process.

Installed connectors (entry points) load in a step's process as anywhere. A connector
a notebook, script or test registered with
:func:`flowat_kernel.sdk.registry.register` exists only in the worker's process, and
the template the step processes are forked from started apart from it. So each step's
task carries those connectors, pickled by ``cloudpickle`` (by value when they were
defined in ``__main__`` or inside a function, by reference to their module otherwise),
and the step's process registers them before the step runs: a connector registered
before a run starts is visible to its code steps, however long the template has run.

:func:`packed` is the worker's side (pickled once per set of registered connectors, so
a step pays nothing more when nothing changed); :func:`install` is the step process's.
A connector that cannot make the trip leaves a note on the step's ``stderr`` saying why
and how to fix it.
"""

from __future__ import annotations

import threading
from typing import Any

import cloudpickle

from flowat_kernel.sdk import registry
from flowat_kernel.sdk.connector import Connector

__all__ = ["cannot_travel", "install", "packed"]

_lock = threading.Lock()
#: The connectors last packed (kept, so their ids stay theirs), their key and the result.
_cache: tuple[list[Connector], tuple[Any, ...], dict[str, bytes], dict[str, str]] | None = None


def _key(found: dict[str, Connector]) -> tuple[Any, ...]:
    """What identifies a set of connectors: each object, and each of its actions."""
    return tuple(
        (cid, id(c), tuple((name, id(a)) for name, a in c.actions.items()))
        for cid, c in sorted(found.items())
    )


def cannot_travel(connector_id: str, why: str) -> str:
    """The note a step shows when connector ``connector_id`` cannot reach its process."""
    return (
        f"FlowAt: connector {connector_id!r} was registered in the worker's process but "
        f"cannot be used in this step's process ({why}); define it in an importable module "
        "or install it as a plugin (entry point 'flowat.connectors')\n"
    )


def packed() -> tuple[dict[str, bytes], dict[str, str]]:
    """The connectors registered in this process, pickled one by one.

    Returns:
        Pickled connectors by id, and the connectors that cannot be pickled with why.

    """
    global _cache
    found = registry.registered_here()
    if not found:
        return {}, {}
    key = _key(found)
    with _lock:
        if _cache is not None and _cache[1] == key:
            return _cache[2], _cache[3]
        blobs: dict[str, bytes] = {}
        failed: dict[str, str] = {}
        for cid, connector in found.items():
            try:
                blobs[cid] = cloudpickle.dumps(connector)
            except Exception as exc:
                failed[cid] = f"it cannot be pickled: {type(exc).__name__}: {exc}"
        _cache = (list(found.values()), key, blobs, failed)
        return blobs, failed


def install(blobs: dict[str, bytes]) -> dict[str, str]:
    """In a step's process: register the worker's connectors.

    Returns:
        The connectors that could not be unpickled here, with why.

    """
    failed: dict[str, str] = {}
    for cid, blob in blobs.items():
        try:
            connector = cloudpickle.loads(blob)
        except Exception as exc:
            failed[cid] = f"it cannot be unpickled: {type(exc).__name__}: {exc}"
            continue
        registry.register(connector)
    return failed
