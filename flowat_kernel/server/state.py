"""The services the handlers use, built once per runtime."""

from __future__ import annotations

import threading
import weakref
from typing import Any

from flowat_kernel.access.principal import Principal
from flowat_kernel.access.service import Access, access
from flowat_kernel.runtime import Runtime, get_runtime
from flowat_kernel.triggers.schedules import Schedules
from flowat_kernel.triggers.webhooks import Webhooks
from flowat_kernel.workspace import Workspace

__all__ = ["runtime", "schedules", "services", "webhooks", "workspace"]

_made: weakref.WeakKeyDictionary[Runtime, dict[str, Any]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def runtime() -> Runtime:
    """The process's runtime."""
    return get_runtime()


def workspace(principal: Principal) -> Workspace:
    """The workspace of an authenticated caller: every use case goes through it."""
    return Workspace(get_runtime(), principal)


def _cached(name: str, build: Any) -> Any:
    current = get_runtime()
    with _lock:
        bag = _made.setdefault(current, {})
        if name not in bag:
            bag[name] = build(current)
        return bag[name]


def services() -> Access:
    """Directory, keys and sessions."""
    return access(get_runtime())


def webhooks() -> Webhooks:
    """The webhook registry."""
    result: Webhooks = _cached("webhooks", lambda r: Webhooks(r.vault))
    return result


def schedules() -> Schedules:
    """The schedule registry."""
    result: Schedules = _cached("schedules", Schedules)
    return result
