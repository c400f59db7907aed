"""Refused requests are audited, a flood of them is capped, and ``?action=`` filters
before the limit (the review saw 400+ refused requests and no entry, and a filtered page
that missed older matching entries)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowat_kernel.access import Role, access, local_principal
from flowat_kernel.server.limits import Limits, fingerprint
from flowat_kernel.server.serve import ApiServer
from tests.server.helpers import Api, Org, local_key, new_org

PER_MINUTE = 5


@pytest.fixture
def server(flowat_home: Path) -> Iterator[str]:
    """A fresh API (its own counts of refused requests): at most 5 entries a minute each."""
    api = ApiServer("127.0.0.1", 0, limits=Limits(denied_per_minute=PER_MINUTE)).start()
    yield f"http://127.0.0.1:{api.port}"
    api.stop()


def _entries(api: Api, action: str = "access.denied") -> list[dict[str, Any]]:
    reply = api.get("/audit", params={"action": action, "limit": 500})
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


def _owner(org: Org, server: str) -> Api:
    return Api(server, org.keys[Role.OWNER])


def test_refused_requests_are_audited_with_the_principal_path_and_reason(server: str) -> None:
    org = new_org("deny")
    viewer_key = org.keys[Role.VIEWER]
    assert Api(server, viewer_key).get("/keys").status_code == 403

    revoked = access().keys.create(org.principal(), name="old", scopes=["*"])
    access().keys.revoke(org.principal(), revoked.info.id)
    assert Api(server, revoked.key).get("/me").status_code == 401

    forged = "flowat_" + uuid.uuid4().hex[:12] + "_guess"
    assert Api(server, forged).get("/runs").status_code == 401

    entries = _entries(_owner(org, server))
    forbidden = next(e for e in entries if e["detail"]["status"] == 403)
    assert forbidden["actor"] == f"viewer-{org.slug}"
    assert forbidden["target"] == "/api/v1/keys"
    assert forbidden["detail"]["via"] == "key:" + viewer_key.split("_")[1]
    assert "keys:read" in forbidden["detail"]["reason"]
    assert forbidden["detail"]["method"] == "GET"

    unauthenticated = next(e for e in entries if e["detail"]["status"] == 401)
    assert unauthenticated["actor"] == f"owner-{org.slug}"
    assert unauthenticated["detail"]["via"] == f"key:{revoked.info.id}"
    assert "revoked" in unauthenticated["detail"]["reason"]
    assert revoked.key not in str(entries)

    # Nothing ties the made-up key to an organization: the server user's own records it.
    local = Api(server, local_key())
    anonymous = [
        e
        for e in _entries(local)
        if e["detail"].get("credential") == fingerprint(f"Bearer {forged}")
    ]
    assert len(anonymous) == 1 and anonymous[0]["actor"] == "anonymous"
    assert anonymous[0]["target"] == "/api/v1/runs" and forged not in str(anonymous)


def test_a_flood_of_refused_requests_is_capped(server: str) -> None:
    org = new_org("flood")
    revoked = access().keys.create(org.principal(), name="old", scopes=["*"])
    access().keys.revoke(org.principal(), revoked.info.id)
    for _ in range(40):
        assert Api(server, revoked.key).get("/me").status_code == 401
    owner = _owner(org, server)
    logged = [e for e in _entries(owner) if e["action"] == "access.denied"]
    summaries = _entries(owner, "access.denied.suppressed")
    assert len(logged) == PER_MINUTE
    assert len(summaries) == 1 and summaries[0]["detail"]["limit"] == PER_MINUTE

    # Made-up credentials from one address are capped by the address as well.
    local = Api(server, local_key())
    before = len(_entries(local))
    for n in range(40):
        assert Api(server, f"flowat_{n:012x}_guess").get("/me").status_code == 401
    assert len(_entries(local)) - before <= PER_MINUTE + 1
    # Other callers are still served.
    assert owner.get("/me").status_code == 200


def test_action_filter_applies_before_the_limit(api: Api) -> None:
    org = new_org("filter")
    services = access()
    owner = org.principal()
    services.directory.set_role(org.slug, f"editor-{org.slug}", Role.VIEWER, owner.user, owner.role)
    for n in range(30):
        services.keys.create(owner, name=f"k{n}", scopes=["runs:read"])
    reader = api.as_(org.keys[Role.OWNER])
    page = reader.get("/audit", params={"action": "member.role", "limit": 5}).json()["items"]
    assert [e["target"] for e in page][:1] == [f"editor-{org.slug}"], page
    assert all(e["action"].startswith("member.role") for e in page)
    keys = reader.get("/audit", params={"action": "key.created", "limit": 5}).json()["items"]
    assert len(keys) == 5 and {e["action"] for e in keys} == {"key.created"}
    # A filter that matches a derived source only (runs, publishes, secret events).
    assert reader.get("/audit", params={"action": "secret.", "limit": 5}).json()["items"] == []
    assert local_principal().owner != org.slug
