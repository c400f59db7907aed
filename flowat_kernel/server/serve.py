"""Running the API headless: a tornado HTTP server on its own thread and event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from flowat_kernel.server.approval_pages import approval_routes
from flowat_kernel.server.http import make_app, max_body_bytes
from flowat_kernel.server.limits import Gates, Limits

__all__ = ["DEFAULT_PORT", "ApiServer", "start_triggers"]

log = logging.getLogger(__name__)
DEFAULT_PORT = 8765


class ApiServer:
    """The REST API on ``host:port`` (port 0 picks a free one), served from a thread.

    Args:
        host: the address to listen on (loopback by default).
        port: the port; 0 for any free one (see :attr:`port` once started).
        limits: pools and concurrency limits (default: from ``FLOWAT_API_*``).

    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, limits: Limits | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.gates = Gates(limits or Limits.from_env())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._server: Any = None

    @property
    def url(self) -> str:
        """The API's base URL, e.g. ``http://127.0.0.1:8765/api/v1``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/api/v1"

    def start(self) -> ApiServer:
        """Start listening; returns once the socket is bound.

        Raises:
            OSError: the address is in use or cannot be bound.

        """
        self._thread = threading.Thread(target=self._main, name="flowat-api", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def _main(self) -> None:
        from tornado.httpserver import HTTPServer
        from tornado.netutil import bind_sockets

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            sockets = bind_sockets(self.port, self.host)
            # Bodies up to 4x the limit are read and answered with a JSON 413.
            app = make_app(self.gates)
            app.add_handlers(".*$", approval_routes())  # the approval links' pages
            server = HTTPServer(app, max_body_size=4 * max_body_bytes(), xheaders=False)
            server.add_sockets(sockets)
            self._server = server
            self.port = int(sockets[0].getsockname()[1])
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.stop()
            loop.run_until_complete(server.close_all_connections())
            loop.close()

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self.gates.close()


def start_triggers() -> str | None:
    """Create the local user's personal organization and run the trigger worker.

    Returns:
        ``None``, or why schedules will not fire from this process (Temporal down).

    """
    from flowat_kernel.access.service import local_principal
    from flowat_kernel.runtime import get_runtime
    from flowat_kernel.triggers.worker import ensure_trigger_worker

    local_principal()
    try:
        ensure_trigger_worker(get_runtime())
    except Exception as exc:  # Temporal unreachable: the API still serves everything else
        log.warning("schedules will not fire from this process: %s", exc)
        return str(exc)
    return None
