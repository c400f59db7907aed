"""The permission matrix over real HTTP: every role against every endpoint.

Driven by both the endpoint table and the served OpenAPI document, so an endpoint
added without a permission (or without a row in the documented matrix) fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flowat_kernel.access import MATRIX, Role
from flowat_kernel.server.endpoints import PREFIX
from flowat_kernel.server.routes import ENDPOINTS
from tests.server.helpers import Api, new_org

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


#: Endpoints no API key may use, whatever its role: only an Owner acting directly
#: (the Jupyter user, the CLI) rotates the master key.
INTERACTIVE_ONLY = {"/vault/rotate"}


def _path(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: f"missing-{m.group(1)}", path)


@pytest.fixture(scope="module")
def org(api_server: str) -> object:
    return new_org("perm")


def test_every_role_against_every_endpoint(api_server: str, org: object) -> None:
    checked = 0
    for item in ENDPOINTS:
        if item.auth == "public":
            continue
        for role, key in org.keys.items():  # type: ignore[attr-defined]
            reply = Api(api_server, key).request(item.method, _path(item.path), json={})
            allowed = item.auth == "authenticated" or role in MATRIX[item.auth]
            where = f"{role.value} {item.method} {item.path} -> {reply.status_code} {reply.text}"
            assert reply.status_code < 500, where
            if item.path in INTERACTIVE_ONLY:
                assert reply.status_code == 403, where
                if allowed:
                    assert "API key" in reply.json()["error"]["message"], where
            elif allowed:
                assert reply.status_code not in (401, 403), where
            else:
                assert reply.status_code == 403, where
                assert reply.json()["error"]["code"] == "forbidden", where
            checked += 1
    assert checked >= 4 * 30


def test_no_credentials_is_401_everywhere_but_public(api_server: str) -> None:
    anonymous = Api(api_server, None)
    for item in ENDPOINTS:
        reply = anonymous.request(item.method, _path(item.path), json={})
        if item.path == "/hooks/{token}":  # the URL's token is the credential
            assert reply.status_code == 401
            assert reply.json()["error"]["message"] == "unknown webhook"
        elif item.path == "/codec/{credential}/decode":  # so is the codec's path key
            assert reply.status_code == 401, reply.text
            assert reply.json()["error"]["code"] == "unauthenticated"
        elif item.auth == "public":
            assert reply.status_code == 200, item.path
        else:
            assert reply.status_code == 401, (item.method, item.path, reply.text)
            assert reply.headers["WWW-Authenticate"] == "Bearer"
            assert reply.json()["error"]["code"] == "unauthenticated"


def test_openapi_lists_exactly_the_endpoints_each_with_a_matrix_row(api_server: str) -> None:
    document = Api(api_server, None).get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    served = {
        (method.upper(), path): operation["x-flowat-permission"]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    table = {(e.method, PREFIX + e.path): e.auth for e in ENDPOINTS}
    assert served == table
    for (method, path), permission in served.items():
        assert permission in ("public", "authenticated") or permission in MATRIX, (method, path)
    public = {path for (_, path), auth in served.items() if auth == "public"}
    assert public == {
        f"{PREFIX}/openapi.json",
        f"{PREFIX}/hooks/{{token}}",
        f"{PREFIX}/codec/{{credential}}/decode",
    }
    matrix = document["info"]["x-flowat-permission-matrix"]
    assert matrix == {p: sorted(r.value for r in roles) for p, roles in MATRIX.items()}


def test_documented_matrix_equals_the_matrix() -> None:
    text = DOCS.read_text()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and re.fullmatch(r"`\w+:\w+`", cells[0]):
            rows[cells[0].strip("`")] = {
                role for role, mark in zip(Role, cells[1:], strict=True) if mark == "yes"
            }
    assert rows == {p: set(roles) for p, roles in MATRIX.items()}


def test_administrator_cannot_touch_owners_and_last_owner_stays(api_server: str) -> None:
    org = new_org("roles")
    admin = Api(api_server, org.keys[Role.ADMINISTRATOR])
    owner = Api(api_server, org.keys[Role.OWNER])
    reply = admin.put(f"/members/viewer-{org.slug}", json={"role": "owner"})
    assert reply.status_code == 403
    assert admin.delete(f"/members/owner-{org.slug}").status_code == 403
    assert admin.put(f"/members/newbie-{org.slug}", json={"role": "editor"}).status_code == 200
    assert owner.put(f"/members/owner-{org.slug}", json={"role": "viewer"}).status_code == 409
    assert owner.put(f"/members/x-{org.slug}", json={"role": "wizard"}).status_code == 422
    # A demoted member's key loses the power at once.
    assert owner.put(f"/members/editor-{org.slug}", json={"role": "viewer"}).status_code == 200
    editor = Api(api_server, org.keys[Role.EDITOR])
    assert editor.post("/workflows", json={}).status_code == 403
    # A removed member's key stops working.
    assert owner.delete(f"/members/editor-{org.slug}").status_code == 200
    assert editor.get("/me").status_code == 401
    actions = [e["action"] for e in owner.get("/audit").json()["items"]]
    assert actions.count("member.role_changed") >= 2 and "member.removed" in actions
