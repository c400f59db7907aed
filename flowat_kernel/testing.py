"""Testing helpers for connector authors (and FlowAt's own tests).

- :func:`call` runs one action of a connector directly: input validated, output
  validated, errors as the SDK reports them; no store, no breaker, no Temporal.
- :func:`registered` makes a connector available to ``flowat.action`` and action steps
  for the duration of a ``with`` block.
- :func:`cells` builds notebook cells to publish a workflow from a test.
- :class:`LoopbackHTTPServer` serves canned or computed responses on 127.0.0.1 and
  records every request, to test a connector against a real HTTP server.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import BaseModel

from flowat_kernel.compiler import Cell
from flowat_kernel.sdk.call import validate_input
from flowat_kernel.sdk.connector import Connector
from flowat_kernel.sdk.context import ActionContext

__all__ = [
    "LoopbackHTTPServer",
    "Recorded",
    "Reply",
    "call",
    "call_with_context",
    "cells",
    "free_port",
    "registered",
]


def free_port() -> int:
    """A loopback port nothing listens on now (bound, then released), for a test server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cells(*sources: str, parameters: str | None = None) -> list[Cell]:
    """Notebook cells for :func:`flowat_kernel.publish`.

    An optional parameters cell, then one cell per source (``%%flowat step`` cells
    become steps).
    """
    result = []
    if parameters is not None:
        result.append(Cell(parameters, 1, tags=("parameters",)))
    for source in sources:
        result.append(Cell(source, len(result) + 1))
    return result


def call(connector: Connector, action: str, /, **params: Any) -> BaseModel:
    """Call ``connector``'s ``action`` with ``params`` as a step would, minus the plumbing.

    Raises:
        ActionError: invalid input, invalid output, or the action's own error.

    """
    return call_with_context(connector, action, **params)[0]


def call_with_context(
    connector: Connector, action: str, /, **params: Any
) -> tuple[BaseModel, ActionContext]:
    """As :func:`call`, also returning the context (``usage`` the action recorded, ...)."""
    spec = connector.actions[action]
    data = validate_input(spec, params)
    context = ActionContext(
        connector=connector.id, action=action, idempotency_key=f"test:{spec.full_name}"
    )
    result = spec.function(context, data)
    return spec.output.model_validate(result), context


@contextlib.contextmanager
def registered(connector: Connector) -> Iterator[Connector]:
    """Register ``connector`` in this process for the block, then remove it."""
    from flowat_kernel.sdk import registry

    registry.register(connector)
    try:
        yield connector
    finally:
        with registry._lock:
            registry._extra.pop(connector.id, None)


@dataclass
class Recorded:
    """One request the loopback server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class Reply:
    """What the loopback server answers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, str]:
        """The body as bytes, with its content type."""
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json"


Handler = Callable[[Recorded], Reply]


class LoopbackHTTPServer:
    """An HTTP server on 127.0.0.1 that answers with ``handler(request)``.

    Use as a context manager; ``url`` is its base address and ``requests`` what it saw.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        owner = self

        class _Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Recorded(
                    self.command, self.path, dict(self.headers.items()), self.rfile.read(length)
                )
                with owner._lock:
                    owner.requests.append(request)
                reply = owner.handler(request)
                body, kind = reply.encoded()
                self.send_response(reply.status)
                headers = {"Content-Type": kind, **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> LoopbackHTTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
