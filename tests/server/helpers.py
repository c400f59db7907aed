"""Shared helpers of the API tests: an in-process API server on loopback, organizations
with one member per role, and a tiny HTTP client (httpx, real sockets)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

import flowat_kernel as flowat
from flowat_kernel.access import Principal, Role, access, local_principal
from flowat_kernel.runtime import get_runtime
from flowat_kernel.server.serve import ApiServer
from flowat_kernel.testing import cells


@dataclass
class Api:
    """Requests against the running API, with a default credential."""

    base: str
    key: str | None = None
    timeout: float = 60.0

    def request(self, method: str, path: str, *, key: str | None = "", **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", None) or {})
        credential = self.key if key == "" else key
        if credential is not None:
            headers.setdefault("Authorization", f"Bearer {credential}")
        url = path if path.startswith("http") else f"{self.base}/api/v1{path}"
        return httpx.request(method, url, headers=headers, timeout=self.timeout, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)

    def as_(self, key: str | None) -> Api:
        return Api(self.base, key, self.timeout)


@dataclass
class Org:
    """An organization with one member (and a ``*`` key) per role."""

    slug: str
    keys: dict[Role, str] = field(default_factory=dict)

    def principal(self, role: Role = Role.OWNER) -> Principal:
        return Principal(user=f"{role.value}-{self.slug}", owner=self.slug, role=role)


def new_org(prefix: str = "org") -> Org:
    """A fresh organization, its members and their keys (every scope)."""
    services = access()
    slug = f"{prefix}-{uuid.uuid4().hex[:8]}"
    owner_user = f"owner-{slug}"
    services.directory.create_organization(slug, None, owner_user)
    owner = Principal(user=owner_user, owner=slug, role=Role.OWNER)
    org = Org(slug)
    for role in Role:
        user = f"{role.value}-{slug}"
        if role is not Role.OWNER:
            services.directory.set_role(slug, user, role, owner_user, Role.OWNER)
        created = services.keys.create(owner, name=role.value, scopes=["*"], user=user)
        org.keys[role] = created.key
    return org


def local_key(scopes: list[str] | None = None, **kw: Any) -> str:
    """A key of the local user (Owner of the personal organization)."""
    return access().keys.create(local_principal(), name="test", scopes=scopes or ["*"], **kw).key


def publish(name: str, owner: str | None = None, body: str = "out = n * 2") -> int:
    """Publish a one-step workflow with an ``n`` input (and ``payload``) into ``owner``."""
    spec = flowat.compile_workflow(
        name,
        cells=cells(f"%%flowat step work --local\n{body}", parameters="n = 1\npayload = ''"),
    )
    store = get_runtime().store
    version, _ = store.publish(spec, owner=owner or local_principal().owner, created_by="test")
    return version.number


@pytest.fixture(scope="module")
def api_server(flowat_home: Path) -> Iterator[str]:
    """The API on a free loopback port, served from this process; yields its base URL."""
    server = ApiServer("127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


@pytest.fixture
def api(api_server: str) -> Api:
    """A client of the running API with the local user's ``*`` key."""
    return Api(api_server, local_key())
