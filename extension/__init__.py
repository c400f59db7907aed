"""FlowAt's Jupyter server extension: the REST API and webhooks inside Jupyter Server.

The ``extension/`` folder installs as the package ``flowat_extension``, which the
package enables on install (``jupyter-config/jupyter_server_config.d/flowat.json``). It
serves the same endpoints as ``flowat serve`` under the server's base URL
(``/api/v1/...``). A request Jupyter authenticated (its token or login cookie) acts as
the notebook user, Owner of their personal organization; any other request needs a
FlowAt API key or session token, exactly as headless.
"""

from typing import Any

__all__ = ["_jupyter_server_extension_points", "_load_jupyter_server_extension"]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """Jupyter's hook: where the extension is."""
    return [{"module": __name__}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Jupyter's hook: add the handlers to the running server."""
    from .app import load_extension  # heavy imports only when Jupyter loads it

    load_extension(serverapp)
