"""Finding connectors: the ``flowat.connectors`` entry-point group, plus any registered here.

Built-in connectors (``connectors/`` in this repository) register through the same
entry-point group as third-party packages do.
"""

from __future__ import annotations

import threading
from importlib.metadata import entry_points

from flowat_kernel.errors import FlowAtError, NotFoundError
from flowat_kernel.sdk.connector import Action, Connector

__all__ = ["GROUP", "connectors", "get_action", "register"]

GROUP = "flowat.connectors"

_lock = threading.Lock()
_loaded: dict[str, Connector] | None = None
_extra: dict[str, Connector] = {}


def _discover() -> dict[str, Connector]:
    found: dict[str, Connector] = {}
    for point in entry_points(group=GROUP):
        try:
            connector = point.load()
        except Exception as exc:  # a broken plugin must not hide the others
            raise FlowAtError(
                f"the connector entry point {point.name!r} ({point.value}) failed to load: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(connector, Connector):
            raise FlowAtError(
                f"the connector entry point {point.name!r} ({point.value}) is a "
                f"{type(connector).__name__}, not a flowat_kernel.sdk.Connector"
            )
        found[connector.id] = connector
    return found


def connectors() -> dict[str, Connector]:
    """Every installed connector by id (entry points, then those registered in-process)."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = _discover()
        return {**_loaded, **_extra}


def register(connector: Connector) -> Connector:
    """Make ``connector`` available in this process (tests, notebooks, plugins in progress)."""
    with _lock:
        _extra[connector.id] = connector
    return connector


def get_action(full_name: str) -> Action:
    """The action ``connector.action``.

    Raises:
        NotFoundError: no such connector or action; lists what there is.

    """
    connector_id, _, name = full_name.partition(".")
    available = connectors()
    connector = available.get(connector_id)
    if connector is None:
        raise NotFoundError(
            f"no connector {connector_id!r} (from {full_name!r}); installed: "
            f"{', '.join(sorted(available)) or 'none'} (`flowat connectors` lists them)"
        )
    action = connector.actions.get(name)
    if action is None:
        raise NotFoundError(
            f"connector {connector_id!r} has no action {name!r}; its actions: "
            f"{', '.join(sorted(connector.actions))}"
        )
    return action
