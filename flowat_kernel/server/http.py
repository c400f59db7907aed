"""The tornado side: one handler class serving the endpoint table, and the application.

:class:`ApiHandlerMixin` does the work (concurrency limits, size limit, authentication,
dispatch, JSON errors, auditing refused requests) and leaves *how the caller is
identified* to :meth:`principal`: the headless server accepts API keys and session
tokens, the Jupyter extension also the notebook user authenticated by Jupyter.

Authentication and handlers run on the application's own bounded pool; a request that
waits for a run awaits it on the event loop without holding a thread (see
:mod:`flowat_kernel.server.limits`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import tornado.web

from flowat_kernel.access.errors import Unauthenticated
from flowat_kernel.access.principal import Principal
from flowat_kernel.errors import ConfigError
from flowat_kernel.server.api_codec import CORS_HEADERS, is_codec_path
from flowat_kernel.server.call import Call, Later, Reply
from flowat_kernel.server.endpoints import PREFIX, Endpoint
from flowat_kernel.server.errors import ApiError, error_reply
from flowat_kernel.server.limits import RETRY_AFTER_SECONDS, Gates, Limits, fingerprint
from flowat_kernel.server.routes import by_path
from flowat_kernel.server.state import runtime, services
from flowat_kernel.store.audit_records import credential_context

T = TypeVar("T")
log = logging.getLogger(__name__)

__all__ = [
    "ApiHandler",
    "ApiHandlerMixin",
    "NotFoundHandler",
    "default_gates",
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


_default: Gates | None = None
_default_lock = threading.Lock()


def default_gates() -> Gates:
    """The process's gates (limits from the environment), for apps built without their own."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Gates(Limits.from_env())
        return _default


def _as_credential(detail: dict[str, str], work: Callable[..., T], *args: Any) -> T:
    with credential_context(detail):
        return work(*args)


class ApiHandlerMixin:
    """Serves one path of the endpoint table; mix into a tornado ``RequestHandler``."""

    flowat_endpoints: dict[str, Endpoint]
    flowat_gates: Gates
    flowat_principal: Principal | None = None
    request: Any

    def initialize(self, endpoints: dict[str, Endpoint], gates: Gates | None = None) -> None:
        """Tornado hook: the endpoints of this path, by method, and the app's gates."""
        self.flowat_endpoints = endpoints
        self.flowat_gates = gates or default_gates()

    async def _blocking(self, work: Callable[..., T], *args: Any) -> T:
        """Run ``work(*args)`` on the API's pool (never on the loop, never its default pool)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.flowat_gates.pool, functools.partial(work, *args))

    def principal(self) -> Principal:
        """The caller, from the ``Authorization`` header (runs on the API's pool).

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
        if is_codec_path(self.request.path):
            extra = {**CORS_HEADERS, **(extra or {})}
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

    def _bucket(self, path: dict[str, str]) -> tuple[str, bool] | None:
        """What this request counts against: its webhook, credential or address."""
        item = self.flowat_endpoints.get(self.request.method.upper())
        if item is None:
            return None
        if item.limit_by is not None and path.get(item.limit_by):
            return "webhook:" + fingerprint(path[item.limit_by]), True
        header = self.request.headers.get("Authorization", "")
        if header:
            return "credential:" + fingerprint(header), False
        return f"address:{self.request.remote_ip}", False

    async def _serve(self, **path: str) -> None:
        gates = self.flowat_gates
        bucket = self._bucket(path)
        entered = False
        try:
            if bucket is not None:
                gates.enter(*bucket)
                entered = True
            status, body = await self._dispatch(path)
        except Exception as exc:
            status, body = error_reply(exc)
            if status in (401, 403):
                await self._audit_denied(exc, status, body)
        finally:
            if entered and bucket is not None:
                gates.leave(bucket[0])
        extra = None
        if status == 401:
            extra = {"WWW-Authenticate": "Bearer"}
        elif status == 429:
            extra = {"Retry-After": str(RETRY_AFTER_SECONDS)}
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
            principal = await self._blocking(self.principal)
            self.flowat_principal = principal
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
        detail = principal.audit_detail() if principal is not None else {}
        result: Reply = await self._blocking(_as_credential, detail, item.handler, call)
        if isinstance(result, Later):
            return await self._settle(result, detail)
        return result

    async def _settle(self, later: Later, detail: dict[str, str]) -> tuple[int, Any]:
        """Wait on the loop (a wait slot, no thread), then build the reply on the pool."""
        gates = self.flowat_gates
        if not gates.start_wait():  # every slot taken: answer with the run as it stands
            return await self._blocking(_as_credential, detail, later.now)
        try:
            value = await later.wait(gates.wait_pool)
        finally:
            gates.end_wait()
        return await self._blocking(_as_credential, detail, later.finish, value)

    async def _audit_denied(self, exc: BaseException, status: int, body: Any) -> None:
        """Record a 401 or 403 in the audit log (rate-limited per credential and address)."""
        try:
            await self._blocking(self._record_denied, exc, status, body)
        except Exception as problem:  # auditing must not change the reply
            log.warning("could not audit a refused request: %s", problem)

    def _record_denied(self, exc: BaseException, status: int, body: Any) -> None:
        request = self.request
        principal = self.flowat_principal
        detail: dict[str, Any] = {
            "status": status,
            "method": request.method.upper(),
            "reason": str(body.get("error", {}).get("message", ""))[:500],
            "address": request.remote_ip,
        }
        header = request.headers.get("Authorization", "")
        credential = fingerprint(header) if header else None
        address = f"address:{request.remote_ip}"
        # Attributed attempts count against their credential; anonymous ones also against
        # the address, so a stream of made-up credentials is capped as well.
        if principal is not None:
            owner, actor = principal.owner, principal.user
            detail.update(principal.audit_detail())
            sources = [f"credential:{credential}" if credential else address]
        elif isinstance(exc, Unauthenticated) and exc.owner is not None:
            owner, actor = exc.owner, exc.actor or "anonymous"
            if exc.via is not None:
                detail["via"] = exc.via
            sources = [f"credential:{credential}" if credential else address]
        else:  # nothing ties the attempt to an organization: the server user's own
            owner, actor = services().local().owner, "anonymous"
            sources = [f"credential:{credential}", address] if credential else [address]
        if principal is None and credential is not None:
            detail["credential"] = credential
        self.flowat_gates.denied.record(
            runtime().store,
            owner,
            actor,
            sources=sources,
            target=safe_path(request.uri or ""),
            detail=detail,
        )

    async def options(self, **path: str) -> None:
        """OPTIONS: a CORS preflight, answered on the codec's paths only."""
        if not is_codec_path(self.request.path):
            await self._serve(**path)
            return
        handler: Any = self
        handler.set_status(204)
        for name, value in CORS_HEADERS.items():
            handler.set_header(name, value)
        handler.finish()

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
    base: str = "/",
    handler: type = ApiHandler,
    missing: type = NotFoundHandler,
    gates: Gates | None = None,
) -> list[Any]:
    """Tornado URL specs for the API under ``base`` (``/`` headless, Jupyter's base URL else).

    ``gates``: the pools and limits the handlers use (the process's, by default).
    """
    prefix = base.rstrip("/") + PREFIX
    table: list[Any] = [
        (prefix + _pattern(path) + "/?$", handler, {"endpoints": endpoints, "gates": gates})
        for path, endpoints in by_path().items()
    ]
    table.append((prefix + "(?P<rest>/.*)?$", missing, {"endpoints": {}, "gates": gates}))
    return table


_HOOK_TOKEN = re.compile(r"(/hooks/)[^/?]+")


_APPROVAL_TOKEN = re.compile(r"(/flowat/approvals/[^/?]+/)[^/?]+")


_CODEC_KEY = re.compile(r"(/codec/)(?!decode(?:/|$))[^/?]+")


def safe_path(uri: str) -> str:
    """A request URI fit for logs: webhook, approval and codec keys masked, queries dropped."""
    path = _HOOK_TOKEN.sub(r"\1***", uri.split("?", 1)[0])
    path = _CODEC_KEY.sub(r"\1***", path)
    return _APPROVAL_TOKEN.sub(r"\1***", path)


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


def make_app(gates: Gates | None = None) -> tornado.web.Application:
    """The headless application (what ``flowat serve`` runs), with its own ``gates``."""
    gates = gates or Gates(Limits.from_env())
    return tornado.web.Application(
        routes(gates=gates),
        default_handler_class=NotFoundHandler,
        default_handler_args={"endpoints": {}, "gates": gates},
        log_function=log_request,
    )
