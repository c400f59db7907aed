"""Sessions bound to their key, over real HTTP: a revoked or expired key, a removed member
or a revoked session ends the session at once, and no token outlives its key."""

from __future__ import annotations

import time
from datetime import datetime

import jwt

from flowat_kernel.access import Role, access
from tests.server.helpers import Api, new_org


def _session(api: Api, ttl: int = 600) -> dict[str, str]:
    reply = api.post("/sessions", json={"ttl_seconds": ttl})
    assert reply.status_code == 201, reply.text
    document: dict[str, str] = reply.json()
    return document


def test_the_key_id_is_in_the_token_and_a_revoked_key_ends_its_sessions(api: Api) -> None:
    created = api.post("/keys", json={"name": "s", "scopes": ["*"]}).json()
    holder = api.as_(created["key"])
    session = _session(holder)
    claims = jwt.decode(session["token"], options={"verify_signature": False})
    assert claims["key"] == created["id"] and claims["jti"] == session["id"]
    child = _session(api.as_(session["token"]))  # a session made with the session
    for token in (session["token"], child["token"]):
        me = api.as_(token).get("/me").json()
        assert me["via"] == "session" and me["key_id"] == created["id"]

    assert api.delete(f"/keys/{created['id']}").status_code == 200
    for token in (session["token"], child["token"]):
        reply = api.as_(token).get("/me")
        assert reply.status_code == 401, reply.text
        assert "revoked" in reply.json()["error"]["message"]


def test_an_expired_key_ends_its_sessions_and_bounds_their_life(api: Api) -> None:
    created = api.post("/keys", json={"name": "e", "scopes": ["*"], "expires_in_seconds": 2})
    key = created.json()
    session = _session(api.as_(key["key"]), ttl=3600)
    key_expiry = datetime.fromisoformat(key["expires_at"])
    assert datetime.fromisoformat(session["expires_at"]) <= key_expiry
    claims = jwt.decode(session["token"], options={"verify_signature": False})
    assert claims["exp"] <= key_expiry.timestamp()
    assert api.as_(session["token"]).get("/me").status_code == 200
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and api.as_(key["key"]).get("/me").status_code == 200:
        time.sleep(0.2)
    reply = api.as_(session["token"]).get("/me")
    assert reply.status_code == 401 and "expired" in reply.json()["error"]["message"]


def test_a_removed_member_loses_their_sessions_at_once(api: Api) -> None:
    org = new_org("sess")
    editor = api.as_(org.keys[Role.EDITOR])
    session = _session(editor)
    assert api.as_(session["token"]).get("/me").status_code == 200
    owner = api.as_(org.keys[Role.OWNER])
    assert owner.delete(f"/members/editor-{org.slug}").status_code == 200
    reply = api.as_(session["token"]).get("/me")
    assert reply.status_code == 401 and "no longer a member" in reply.json()["error"]["message"]


def test_a_session_can_be_revoked_by_its_user_or_an_administrator(api: Api) -> None:
    org = new_org("sess")
    editor = api.as_(org.keys[Role.EDITOR])
    viewer = api.as_(org.keys[Role.VIEWER])
    first, second = _session(editor), _session(editor)
    child = _session(api.as_(first["token"]))

    # Another member below keys:write may neither see nor revoke it.
    assert viewer.delete(f"/sessions/{first['id']}").status_code == 403
    assert first["id"] not in {s["id"] for s in viewer.get("/sessions").json()["items"]}
    assert first["id"] in {s["id"] for s in editor.get("/sessions").json()["items"]}

    # Its user revokes it: it and the session made with it end at once, the other stays.
    revoked = api.as_(first["token"]).delete(f"/sessions/{first['id']}")
    assert revoked.status_code == 200 and set(revoked.json()["revoked"]) == {
        first["id"],
        child["id"],
    }
    for token in (first["token"], child["token"]):
        reply = api.as_(token).get("/me")
        assert reply.status_code == 401 and "revoked" in reply.json()["error"]["message"]
    assert api.as_(second["token"]).get("/me").status_code == 200

    # An administrator revokes anyone's; sessions of another organization are not found.
    admin = api.as_(org.keys[Role.ADMINISTRATOR])
    assert api.delete(f"/sessions/{second['id']}").status_code == 404
    assert admin.delete(f"/sessions/{second['id']}").status_code == 200
    assert api.as_(second["token"]).get("/me").status_code == 401
    entries = admin.get("/audit", params={"action": "session.revoked"}).json()["items"]
    assert {e["target"] for e in entries} == {first["id"], second["id"]}
    assert {e["actor"] for e in entries} == {f"editor-{org.slug}", f"administrator-{org.slug}"}


def test_a_token_without_a_recorded_session_is_refused(api: Api) -> None:
    """A validly signed token whose session is not on record (or lacks an id) is refused."""
    token = _session(api)["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(token)["kid"]
    key = access().sessions._signing_key()[1]
    for changed in (dict(claims, jti="0" * 32), {k: v for k, v in claims.items() if k != "jti"}):
        forged = jwt.encode(changed, key, algorithm="HS256", headers={"kid": kid})
        assert api.as_(forged).get("/me").status_code == 401
    moved = jwt.encode(dict(claims, key="other"), key, algorithm="HS256", headers={"kid": kid})
    assert api.as_(moved).get("/me").status_code == 401
