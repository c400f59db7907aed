"""Finding connectors: the ``flowat.connectors`` entry-point group, plus any registered here.

Built-in connectors (``connectors/`` in this repository) register through the same
entry-point group as third-party packages do.
"""

from __future__ import annotations

import logging
import threading
from importlib.metadata import entry_points

from flowat_kernel.errors import NotFoundError
from flowat_kernel.sdk.connector import Action, Connector

__all__ = ["GROUP", "broken", "connectors", "get_action", "register", "registered_here"]

GROUP = "flowat.connectors"

_lock = threading.Lock()
_loaded: dict[str, Connector] | None = None
_extra: dict[str, Connector] = {}
_broken: dict[str, str] = {}
log = logging.getLogger(__name__)


def _discover() -> dict[str, Connector]:
    found: dict[str, Connector] = {}
    _broken.clear()
    for point in entry_points(group=GROUP):
        try:
            connector = point.load()
        except Exception as exc:  # a broken plugin must not take the others down
            _broken[point.name] = f"{point.value} failed to load: {type(exc).__name__}: {exc}"
            log.warning("connector %s: %s", point.name, _broken[point.name])
            continue
        if not isinstance(connector, Connector):
            _broken[point.name] = (
                f"{point.value} is a {type(connector).__name__}, not a flowat_kernel.sdk.Connector"
            )
            log.warning("connector %s: %s", point.name, _broken[point.name])
            continue
        found[connector.id] = connector
    return found


def broken() -> dict[str, str]:
    """Entry points that did not load, with why (``flowat connectors`` shows them)."""
    connectors()
    return dict(_broken)


def connectors() -> dict[str, Connector]:
    """Every installed connector by id (entry points, then those registered in-process)."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = _discover()
        return {**_loaded, **_extra}


def register(connector: Connector) -> Connector:
    """Make ``connector`` available in this process (tests, notebooks, plugins in progress).

    Code steps this process's worker runs in step processes see it too: each step's
    process receives the connectors registered here when the step starts.
    """
    with _lock:
        _extra[connector.id] = connector
    return connector


def registered_here() -> dict[str, Connector]:
    """The connectors :func:`register` added in this process (installed ones left out)."""
    with _lock:
        return dict(_extra)


def get_action(full_name: str) -> Action:
    """The action ``connector.action``.

    Raises:
        NotFoundError: no such connector or action; lists what there is.

    """
    connector_id, _, name = full_name.partition(".")
    available = connectors()
    connector = available.get(connector_id)
    if connector is None:
        why = _broken.get(connector_id)
        raise NotFoundError(
            f"no connector {connector_id!r} (from {full_name!r}); "
            + (
                f"its entry point is broken: {why}"
                if why
                else f"installed: {', '.join(sorted(available)) or 'none'} "
                "(`flowat connectors` lists them)"
            )
        )
    action = connector.actions.get(name)
    if action is None:
        raise NotFoundError(
            f"connector {connector_id!r} has no action {name!r}; its actions: "
            f"{', '.join(sorted(connector.actions))}"
        )
    return action
