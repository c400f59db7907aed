"""The API's endpoints as data: method, path, permission, handler, schemas.

The HTTP servers (headless and Jupyter) route with this table, the OpenAPI document
is generated from it, and the permission test walks it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from flowat_kernel.server.call import Call, Reply

__all__ = ["PREFIX", "Endpoint", "Query", "endpoint"]

PREFIX = "/api/v1"

#: ``public``: no credentials; ``authenticated``: any member; else a permission.
Auth = Literal["public", "authenticated"] | str


@dataclass(frozen=True)
class Query:
    """A query parameter, for the OpenAPI document."""

    name: str
    type: Literal["string", "integer"] = "string"
    description: str = ""
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class Endpoint:
    """One operation of the API."""

    method: str
    path: str
    auth: Auth
    summary: str
    handler: Callable[[Call], Reply]
    body: type[BaseModel] | None = None
    query: tuple[Query, ...] = ()
    status: int = 200
    tag: str = ""
    raw_body: bool = False
    limit_by: str | None = None

    @property
    def operation_id(self) -> str:
        """A stable id, e.g. ``get_runs_run_id``."""
        words = [self.method.lower()] + [
            w.strip("{}") for w in self.path.strip("/").split("/") if w
        ]
        return "_".join(words).replace("-", "_")

    @property
    def path_params(self) -> list[str]:
        """Names of the path's ``{parameters}``."""
        return [w[1:-1] for w in self.path.split("/") if w.startswith("{")]


def endpoint(
    method: str,
    path: str,
    auth: Auth,
    summary: str,
    *,
    body: type[BaseModel] | None = None,
    query: tuple[Query, ...] = (),
    status: int = 200,
    tag: str = "",
    raw_body: bool = False,
    limit_by: str | None = None,
) -> Callable[[Callable[[Call], Reply]], Endpoint]:
    """Decorate a handler function into an :class:`Endpoint`.

    ``limit_by`` names a path parameter (a webhook's ``token``) whose value, rather
    than the credential, counts the endpoint's requests in flight (see
    :mod:`flowat_kernel.server.limits`).
    """

    def wrap(handler: Callable[[Call], Reply]) -> Endpoint:
        return Endpoint(
            method,
            path,
            auth,
            summary,
            handler,
            body,
            query,
            status,
            tag or path.split("/")[1],
            raw_body,
            limit_by,
        )

    return wrap


def as_json(value: Any) -> Any:
    """Values the JSON encoder does not know, as text."""
    return str(value)
