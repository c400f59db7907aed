"""Roles cannot be climbed, attacked over real HTTP the way the security review did.

The review's Administrator minted a key for the Owner (``POST /keys {"user": owner}``),
then with it promoted himself and demoted the Owner, and the audit log named the Owner.
Each step must be refused and audited with the real actor and the key he used.
"""

from __future__ import annotations

from typing import Any

import pytest

from flowat_kernel.access import Forbidden, Role, access
from tests.server.helpers import Api, Org, new_org


def _audit(org: Org, api: Api, action: str) -> list[dict[str, Any]]:
    reply = api.as_(org.keys[Role.OWNER]).get("/audit", params={"action": action, "limit": 500})
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


def _key_id(key: str) -> str:
    return key.removeprefix("flowat_").split("_")[0]


def test_administrator_cannot_mint_an_owner_key(api: Api) -> None:
    org = new_org("climb")
    admin = api.as_(org.keys[Role.ADMINISTRATOR])
    owner_user, admin_user = f"owner-{org.slug}", f"administrator-{org.slug}"

    minted = admin.post("/keys", json={"name": "x", "scopes": ["*"], "user": owner_user})
    assert minted.status_code == 403, minted.text
    assert "above your own role" in minted.json()["error"]["message"]
    assert not [k for k in access().keys.list(org.slug, owner_user) if k.name == "x"]

    # Rotating the Owner's key would mint one too.
    owner_key_id = _key_id(org.keys[Role.OWNER])
    rotated = admin.post(f"/keys/{owner_key_id}/rotate", json={"overlap_seconds": 0})
    assert rotated.status_code == 403, rotated.text
    assert api.as_(org.keys[Role.OWNER]).get("/me").status_code == 200

    # What an Administrator may still do: keys for himself and for members below him.
    editor_key = admin.post(
        "/keys", json={"name": "ed", "scopes": ["runs:read"], "user": f"editor-{org.slug}"}
    )
    assert editor_key.status_code == 201, editor_key.text
    assert admin.post("/keys", json={"name": "me", "scopes": ["*"]}).status_code == 201

    denied = _audit(org, api, "access.denied")
    mine = [e for e in denied if e["actor"] == admin_user and e["target"] == "/api/v1/keys"]
    assert mine, denied
    assert mine[0]["detail"]["status"] == 403
    assert mine[0]["detail"]["via"] == f"key:{_key_id(org.keys[Role.ADMINISTRATOR])}"
    assert "above your own role" in mine[0]["detail"]["reason"]
    assert all(e["actor"] != owner_user for e in denied)


def test_administrator_cannot_promote_himself_or_demote_the_owner(api: Api) -> None:
    org = new_org("climb")
    admin = api.as_(org.keys[Role.ADMINISTRATOR])
    owner_user, admin_user = f"owner-{org.slug}", f"administrator-{org.slug}"

    assert admin.put(f"/members/{admin_user}", json={"role": "owner"}).status_code == 403
    assert admin.put(f"/members/{owner_user}", json={"role": "viewer"}).status_code == 403
    assert admin.delete(f"/members/{owner_user}").status_code == 403
    roles = {m.user: m.role for m in access().directory.members(org.slug)}
    assert roles[owner_user] is Role.OWNER and roles[admin_user] is Role.ADMINISTRATOR

    # Changes he may make are audited with him as actor and the key he used.
    editor_user = f"editor-{org.slug}"
    assert admin.put(f"/members/{editor_user}", json={"role": "viewer"}).status_code == 200
    changed = _audit(org, api, "member.role_changed")
    entry = next(e for e in changed if e["target"] == editor_user)
    assert entry["actor"] == admin_user
    assert entry["detail"]["via"] == f"key:{_key_id(org.keys[Role.ADMINISTRATOR])}"

    denied = [e for e in _audit(org, api, "access.denied") if e["actor"] == admin_user]
    assert {e["target"] for e in denied} >= {
        f"/api/v1/members/{admin_user}",
        f"/api/v1/members/{owner_user}",
    }


def test_editor_cannot_create_an_administrator_key(api: Api) -> None:
    org = new_org("climb")
    editor = api.as_(org.keys[Role.EDITOR])
    reply = editor.post(
        "/keys", json={"name": "x", "scopes": ["*"], "user": f"administrator-{org.slug}"}
    )
    assert reply.status_code == 403, reply.text
    own = editor.post("/keys", json={"name": "x", "scopes": ["runs:read"]})
    assert own.status_code == 403  # an Editor holds no keys:write at all
    assert not [k for k in access().keys.list(org.slug) if k.name == "x"]


def test_key_creation_checks_the_member_role_in_the_access_layer() -> None:
    """The rule holds below HTTP too (the CLI and Python API use the same method)."""
    org = new_org("climb")
    services = access()
    admin = org.principal(Role.ADMINISTRATOR)
    with pytest.raises(Forbidden, match="above your own role"):
        services.keys.create(admin, name="x", scopes=["*"], user=f"owner-{org.slug}")
    editor = org.principal(Role.EDITOR)
    with pytest.raises(Forbidden):
        services.keys.create(editor, name="x", scopes=["*"], user=f"administrator-{org.slug}")
    with pytest.raises(Forbidden, match="only an owner"):
        services.directory.set_role(
            org.slug, f"editor-{org.slug}", Role.OWNER, admin.user, Role.ADMINISTRATOR
        )
