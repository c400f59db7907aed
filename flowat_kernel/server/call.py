"""One API request as the handlers see it, independent of the HTTP server."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from flowat_kernel.access.principal import Principal
from flowat_kernel.server.errors import ApiError

__all__ = ["Call", "Later", "Reply"]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Later:
    """A reply that waits first, holding no thread (a run's ``wait_seconds``, ``?wait=``).

    The HTTP layer takes a wait slot and awaits ``wait(executor)`` on its event loop
    (``executor`` is for short store reads), then builds the reply with ``finish`` on
    its pool. With no wait slot free it calls ``now`` instead: the reply without
    waiting.
    """

    wait: Callable[[Executor], Awaitable[Any]]
    finish: Callable[[Any], tuple[int, Any]]
    now: Callable[[], tuple[int, Any]]


#: What a handler returns: ``(status, JSON-able body)``, or a :class:`Later`.
Reply = tuple[int, Any] | Later


@dataclass
class Call:
    """A request: who, path parameters, query, headers and body.

    Attributes:
        principal: the authenticated caller (``None`` on public endpoints).
        path: path parameters, already URL-decoded.
        query: query parameters (the last value of each).
        headers: request headers, names in lower case.
        body: the raw body.
        fields: for multipart bodies, each field's value (a file's content, no name).
        base_url: scheme, host and port, to build URLs in replies.

    """

    principal: Principal | None
    path: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    fields: dict[str, bytes] = field(default_factory=dict)
    base_url: str = ""

    @property
    def who(self) -> Principal:
        """The caller (for endpoints that require authentication)."""
        if self.principal is None:  # pragma: no cover - the router guarantees it
            raise ApiError(401, "unauthenticated", "authenticate with an API key or token")
        return self.principal

    @property
    def content_type(self) -> str:
        """The media type of the body, lower case, without parameters."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def document(self) -> Any:
        """The body parsed as JSON (an empty body is ``{}``).

        Raises:
            ApiError: 400 when it is not JSON.

        """
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "bad_json", f"the body is not valid JSON: {exc}") from None

    def model(self, kind: type[M]) -> M:
        """The JSON body validated as ``kind`` (422 with the fields that are wrong)."""
        document = self.document()
        if not isinstance(document, dict):
            raise ApiError(422, "invalid", "the body must be a JSON object")
        return kind.model_validate(document)

    def text(self, name: str, default: str | None = None, max_length: int = 200) -> str | None:
        """A query parameter as text (bounded)."""
        value = self.query.get(name, default)
        if value is not None and len(value) > max_length:
            raise ApiError(400, "bad_query", f"query parameter {name} is too long")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        """A query parameter as an integer between ``low`` and ``high``."""
        raw = self.query.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(400, "bad_query", f"query parameter {name} must be an integer") from None
        if not low <= value <= high:
            raise ApiError(400, "bad_query", f"query parameter {name} must be {low} to {high}")
        return value

    def timestamp(self, name: str) -> datetime | None:
        """A query parameter as an ISO 8601 timestamp (UTC when no zone is given)."""
        raw = self.query.get(name)
        if raw is None:
            return None
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise ApiError(400, "bad_query", f"{name} must be an ISO 8601 timestamp") from None
        if value.tzinfo is None:
            from datetime import UTC

            value = value.replace(tzinfo=UTC)
        return value
