"""The tornado side: one handler class serving the endpoint table, and the application.

:class:`ApiHandlerMixin` does the work (size limit, authentication, dispatch, JSON
errors) and leaves *how the caller is identified* to :meth:`principal`: the headless
server accepts API keys and session tokens, the Jupyter extension also the notebook
user authenticated by Jupyter.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from typing import Any

import tornado.web

from flowat_kernel.access.errors import Unauthenticated
from flowat_kernel.access.principal import Principal
from flowat_kernel.errors import ConfigError
from flowat_kernel.server.call import Call
from flowat_kernel.server.endpoints import PREFIX, Endpoint
from flowat_kernel.server.errors import ApiError, error_reply
from flowat_kernel.server.routes import by_path
from flowat_kernel.server.state import services

__all__ = [
    "ApiHandler",
    "ApiHandlerMixin",
    "NotFoundHandler",
    "log_request",
    "make_app",
    "max_body_bytes",
    "routes",
    "safe_path",
]

DEFAULT_MAX_BODY = 4 * 1024 * 1024


def max_body_bytes() -> int:
    """``FLOWAT_API_MAX_BODY``: the largest request body the API reads (default 4 MiB)."""
    raw = os.environ.get("FLOWAT_API_MAX_BODY")
    if not raw:
        return DEFAULT_MAX_BODY
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(f"FLOWAT_API_MAX_BODY={raw!r} is not a positive number of bytes")
    return value


def _bearer(header: str) -> str:
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated("send Authorization: Bearer followed by an API key or token")
    return credential.strip()


class ApiHandlerMixin:
    """Serves one path of the endpoint table; mix into a tornado ``RequestHandler``."""

    flowat_endpoints: dict[str, Endpoint]
    request: Any

    def initialize(self, endpoints: dict[str, Endpoint]) -> None:
        """Tornado hook: the endpoints of this path, by method."""
        self.flowat_endpoints = endpoints

    def principal(self) -> Principal:
        """The caller, from the ``Authorization`` header (runs in a worker thread).

        Raises:
            Unauthenticated: missing or invalid credentials.

        """
        header = self.request.headers.get("Authorization", "")
        if not header:
            raise Unauthenticated(
                "this endpoint needs credentials: Authorization: Bearer flowat_... "
                "(create a key with `flowat keys create`)"
            )
        return services().authenticate(_bearer(header))

    def _reply(self, status: int, body: Any, extra: dict[str, str] | None = None) -> None:
        handler: Any = self
        handler.set_status(status)
        handler.set_header("Content-Type", "application/json; charset=utf-8")
        handler.set_header("Cache-Control", "no-store")
        for name, value in (extra or {}).items():
            handler.set_header(name, value)
        handler.finish(json.dumps(body, default=str, allow_nan=False))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors raised by tornado itself (a malformed body, say) as JSON too."""
        handler: Any = self
        reason = handler._reason or "error"
        code = "bad_request" if status_code < 500 else "internal"
        message = reason if status_code < 500 else "the server failed; the details are in its log"
        handler.set_header("Content-Type", "application/json; charset=utf-8")
        handler.finish(json.dumps({"error": {"code": code, "message": message}}))

    def _fields(self) -> dict[str, bytes]:
        fields = {k: v[0] for k, v in self.request.body_arguments.items() if v}
        fields.update({k: v[0]["body"] for k, v in self.request.files.items() if v})
        return fields

    async def _serve(self, **path: str) -> None:
        try:
            status, body = await self._dispatch(path)
        except Exception as exc:
            status, body = error_reply(exc)
        extra = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        try:
            self._reply(status, body, extra)
        except (TypeError, ValueError) as exc:  # a reply that is not JSON-able
            status, body = error_reply(exc)
            self._reply(500, body)

    async def _dispatch(self, path: dict[str, str]) -> tuple[int, Any]:
        method = self.request.method.upper()
        item = self.flowat_endpoints.get(method)
        if item is None:
            allowed = ", ".join(sorted(self.flowat_endpoints))
            raise ApiError(405, "method_not_allowed", f"use {allowed} on this path")
        length = self.request.headers.get("Content-Length", "0")
        limit = max_body_bytes()
        if len(self.request.body) > limit or (length.isdigit() and int(length) > limit):
            raise ApiError(413, "too_large", f"the request body is larger than {limit} bytes")
        principal = None
        if item.auth != "public":
            principal = await asyncio.to_thread(self.principal)
            if item.auth != "authenticated":
                principal.require(item.auth)
        call = Call(
            principal=principal,
            path={k: v for k, v in path.items()},
            query={
                k: self.request.query_arguments[k][-1].decode("utf-8", "replace")
                for k in self.request.query_arguments
            },
            headers={k.lower(): v for k, v in self.request.headers.items()},
            body=self.request.body,
            fields=self._fields()
            if "multipart/form-data" in self.request.headers.get("Content-Type", "")
            else {},
            base_url=f"{self.request.protocol}://{self.request.host}",
        )
        return await asyncio.to_thread(item.handler, call)

    async def get(self, **path: str) -> None:
        """GET."""
        await self._serve(**path)

    async def post(self, **path: str) -> None:
        """POST."""
        await self._serve(**path)

    async def put(self, **path: str) -> None:
        """PUT."""
        await self._serve(**path)

    async def delete(self, **path: str) -> None:
        """DELETE."""
        await self._serve(**path)

    async def patch(self, **path: str) -> None:
        """PATCH."""
        await self._serve(**path)


class ApiHandler(ApiHandlerMixin, tornado.web.RequestHandler):
    """The headless server's handler: API keys and session tokens only."""

    def check_xsrf_cookie(self) -> None:
        """No cookies are used: credentials come in the Authorization header."""


class NotFoundHandler(ApiHandler):
    """Any other path under ``/api/v1``: a JSON 404."""

    async def _dispatch(self, path: dict[str, str]) -> tuple[int, Any]:
        raise ApiError(
            404, "not_found", f"no endpoint {self.request.path}; see {PREFIX}/openapi.json"
        )


def _pattern(path: str) -> str:
    return re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)


def routes(
    base: str = "/", handler: type = ApiHandler, missing: type = NotFoundHandler
) -> list[Any]:
    """Tornado URL specs for the API under ``base`` (``/`` headless, Jupyter's base URL else)."""
    prefix = base.rstrip("/") + PREFIX
    table: list[Any] = [
        (prefix + _pattern(path) + "/?$", handler, {"endpoints": endpoints})
        for path, endpoints in by_path().items()
    ]
    table.append((prefix + "(?P<rest>/.*)?$", missing, {"endpoints": {}}))
    return table


_HOOK_TOKEN = re.compile(r"(/hooks/)[^/?]+")


def safe_path(uri: str) -> str:
    """A request URI fit for logs: webhook tokens masked, query strings dropped."""
    return _HOOK_TOKEN.sub(r"\1***", uri.split("?", 1)[0])


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Access log line without credentials (webhook tokens are in URLs)."""
    import logging

    status = handler.get_status()
    level = logging.INFO if status < 400 else logging.WARNING
    logging.getLogger("flowat.api").log(
        level,
        "%d %s %s %.1fms",
        status,
        handler.request.method,
        safe_path(handler.request.uri or ""),
        1000.0 * handler.request.request_time(),
    )


def make_app() -> tornado.web.Application:
    """The headless application (what ``flowat serve`` runs)."""
    return tornado.web.Application(
        routes(),
        default_handler_class=NotFoundHandler,
        default_handler_args={"endpoints": {}},
        log_function=log_request,
    )
