"""The panel's settings endpoints over real HTTP: invitations and their role attacks,
master-key rotation (an interactive Owner only), secret usage, and editing schedules
(on the real Temporal dev server) and webhooks. Values, tokens and secrets never come
back where they should not: not in a listing, the audit log or a log line."""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import update

import flowat_kernel as flowat
from flowat_kernel.access import Principal, Role, access, local_principal
from flowat_kernel.runtime import get_runtime, reset_runtime
from flowat_kernel.store.clock import utcnow
from flowat_kernel.store.tables import InvitationRow
from flowat_kernel.testing import cells
from flowat_kernel.triggers.signatures import decode_secret, sign
from flowat_kernel.workspace import Workspace
from tests.server.helpers import Api, Org, new_org, publish


@pytest.fixture(scope="module")
def org(api_server: str) -> Org:
    return new_org("settings")


def _user_key(user: str) -> str:
    """A key of ``user`` in their personal organization (their own credential)."""
    slug = access().directory.ensure_personal(user).slug
    owner = Principal(user=user, owner=slug, role=Role.OWNER)
    return access().keys.create(owner, name="mine", scopes=["*"]).key


def test_invitations_roles_single_use_and_no_token_anywhere(
    api_server: str, org: Org, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = Api(api_server, org.keys[Role.ADMINISTRATOR])
    owner = Api(api_server, org.keys[Role.OWNER])
    invitee = f"new-{uuid.uuid4().hex[:6]}"

    # An Administrator never invites an Owner; Editors and Viewers invite nobody.
    reply = admin.post("/invitations", json={"user": invitee, "role": "owner"})
    assert reply.status_code == 403 and "owner" in reply.json()["error"]["message"]
    for role in (Role.EDITOR, Role.VIEWER):
        attempt = Api(api_server, org.keys[role]).post(
            "/invitations", json={"user": invitee, "role": "viewer"}
        )
        assert attempt.status_code == 403
    assert admin.post("/invitations", json={"user": invitee, "role": "wizard"}).status_code == 422
    taken = admin.post("/invitations", json={"user": f"editor-{org.slug}", "role": "viewer"})
    assert taken.status_code == 409
    bad_name = admin.post("/invitations", json={"user": "no spaces", "role": "viewer"})
    assert bad_name.status_code == 422

    created = admin.post("/invitations", json={"user": invitee, "role": "editor"})
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("fi_") and len(token) > 40

    listed = admin.get("/invitations")
    assert listed.status_code == 200 and token not in listed.text
    mine = [i for i in listed.json()["items"] if i["id"] == created.json()["id"]]
    assert mine[0]["status"] == "open" and mine[0]["role"] == "editor"

    # Someone else holding the token cannot use it, and does not use it up.
    stranger = Api(api_server, _user_key(f"other-{uuid.uuid4().hex[:6]}"))
    assert stranger.post("/invitations/redeem", json={"token": token}).status_code == 404
    me = Api(api_server, _user_key(invitee))
    assert me.post("/invitations/redeem", json={"token": token + "x"}).status_code == 404
    joined = me.post("/invitations/redeem", json={"token": token})
    assert joined.status_code == 200, joined.text
    assert joined.json() == {"organization": org.slug, "user": invitee, "role": "editor"}
    again = me.post("/invitations/redeem", json={"token": token})
    assert again.status_code == 409 and "redeemed" in again.json()["error"]["message"]
    members = {m["user"]: m["role"] for m in owner.get("/members").json()["items"]}
    assert members[invitee] == "editor"

    # The Owner may invite an Owner; an Administrator cannot revoke that invitation.
    crowned = owner.post("/invitations", json={"user": f"heir-{invitee}", "role": "owner"})
    assert crowned.status_code == 201, crowned.text
    assert admin.delete(f"/invitations/{crowned.json()['id']}").status_code == 403
    assert owner.delete(f"/invitations/{crowned.json()['id']}").json()["status"] == "revoked"

    audit = owner.get("/audit", params={"action": "invitation"})
    actions = {e["action"] for e in audit.json()["items"]}
    assert {"invitation.created", "invitation.redeemed"} <= actions
    assert token not in audit.text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert token not in logged and token[3:20] not in logged


def test_invitation_revoked_expired_or_from_a_demoted_inviter_does_not_work(
    api_server: str, org: Org
) -> None:
    owner = Api(api_server, org.keys[Role.OWNER])
    admin_user = f"boss-{uuid.uuid4().hex[:6]}"
    owner.put(f"/members/{admin_user}", json={"role": "administrator"})
    admin_key = (
        access()
        .keys.create(
            Principal(user=org.principal().user, owner=org.slug, role=Role.OWNER),
            name="boss",
            scopes=["*"],
            user=admin_user,
        )
        .key
    )
    admin = Api(api_server, admin_key)

    def invite(user: str, role: str) -> str:
        reply = admin.post("/invitations", json={"user": user, "role": role})
        assert reply.status_code == 201, reply.text
        return str(reply.json()["token"])

    revoked_user, expired_user, peer = (f"u{i}-{uuid.uuid4().hex[:6]}" for i in range(3))
    revoked = invite(revoked_user, "viewer")
    item = next(i for i in admin.get("/invitations").json()["items"] if i["user"] == revoked_user)
    # An Editor may not revoke it; the Administrator may.
    editor = Api(api_server, org.keys[Role.EDITOR])
    assert editor.delete(f"/invitations/{item['id']}").status_code == 403
    assert admin.delete(f"/invitations/{item['id']}").json()["status"] == "revoked"
    refused = Api(api_server, _user_key(revoked_user)).post(
        "/invitations/redeem", json={"token": revoked}
    )
    assert refused.status_code == 409 and "revoked" in refused.json()["error"]["message"]

    expired = invite(expired_user, "viewer")
    store = get_runtime().store
    store.transaction(
        lambda s: s.execute(
            update(InvitationRow)
            .where(InvitationRow.user == expired_user)
            .values(expires_at=utcnow().replace(year=2020))
        )
    )
    late = Api(api_server, _user_key(expired_user)).post(
        "/invitations/redeem", json={"token": expired}
    )
    assert late.status_code == 409 and "expired" in late.json()["error"]["message"]

    # An Administrator invites an Administrator, is then demoted: the invitation dies.
    raised = invite(peer, "administrator")
    assert owner.put(f"/members/{admin_user}", json={"role": "editor"}).status_code == 200
    climb = Api(api_server, _user_key(peer)).post("/invitations/redeem", json={"token": raised})
    assert climb.status_code == 403
    assert peer not in {m["user"] for m in owner.get("/members").json()["items"]}


def test_master_key_rotation_only_for_an_owner_acting_directly(
    api_server: str,
    org: Org,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    for role in (Role.VIEWER, Role.EDITOR, Role.ADMINISTRATOR):
        assert Api(api_server, org.keys[role]).post("/vault/rotate").status_code == 403
    owner_key = Api(api_server, org.keys[Role.OWNER])
    reply = owner_key.post("/vault/rotate")
    assert reply.status_code == 403 and "API key" in reply.json()["error"]["message"]
    session = owner_key.post("/sessions", json={}).json()["token"]
    by_session = Api(api_server, session).post("/vault/rotate")
    assert by_session.status_code == 403, by_session.text

    # The Owner logged in to Jupyter (no key) rotates; secrets still read afterwards. In a
    # home of its own: a rotation retires the session home's key, which the session's other
    # stores (its PostgreSQL database) still need.
    monkeypatch.setenv("FLOWAT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FLOWAT_DATABASE_URL", raising=False)
    reset_runtime()
    request.addfinalizer(reset_runtime)
    runtime = get_runtime()
    jupyter = Workspace(runtime, local_principal(via="jupyter"))
    jupyter.set_secret("rotation_probe", "probe-value-1")
    before = runtime.vault.info("rotation_probe", jupyter.owner).key_id
    report = jupyter.rotate_master_key()
    assert report.remaining == 0 and report.active_key != before
    assert runtime.vault.reveal_value("rotation_probe", owner=jupyter.owner) == "probe-value-1"


def test_secret_usage_names_steps_and_never_the_value(api: Api, workflow_name: str) -> None:
    value = f"s3cr3t-{uuid.uuid4().hex}"
    assert api.put("/secrets/usage_probe", json={"value": value}).status_code == 200
    spec = flowat.compile_workflow(
        workflow_name,
        cells=cells(
            "%%flowat step fetch\nimport flowat_kernel as flowat\n"
            "token = flowat.secret('usage_probe')",
            "%%flowat step other\nx = 1",
        ),
    )
    get_runtime().store.publish(spec, owner=local_principal().owner, created_by="test")
    usage = api.get("/secrets/usage_probe/usage")
    assert usage.status_code == 200, usage.text
    steps = [s for s in usage.json()["steps"] if s["workflow"] == workflow_name]
    assert steps == [{"workflow": workflow_name, "version": 1, "step": "fetch"}]
    history = api.get("/secrets/usage_probe/history")
    for reply in (usage, history, api.get("/secrets")):
        assert value not in reply.text
    assert api.get("/secrets/no_such_secret/usage").status_code == 404


def _signed(secret: str, body: bytes) -> dict[str, str]:
    message_id = f"msg_{uuid.uuid4().hex}"
    when = int(time.time())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(when),
        "webhook-signature": sign(decode_secret(secret), message_id, when, body),
        "content-type": "application/json",
    }


def test_webhook_secret_rotation_and_batching(
    api: Api, api_server: str, org: Org, workflow_name: str
) -> None:
    publish(workflow_name)
    hook = api.post("/webhooks", json={"workflow": workflow_name, "signed": True}).json()
    rotated = api.post(f"/webhooks/{hook['id']}/rotate-secret")
    assert rotated.status_code == 201, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != hook["secret"]
    assert "secret" not in api.get(f"/webhooks/{hook['id']}").json()
    body = b'{"n": "not a number"}'  # refused after the signature: nothing starts
    old = api.post(
        hook["path"].removeprefix("/api/v1"),
        content=body,
        headers=_signed(hook["secret"], body),
        key=None,
    )
    assert old.status_code == 401
    new = api.post(
        hook["path"].removeprefix("/api/v1"),
        content=body,
        headers=_signed(new_secret, body),
        key=None,
    )
    assert new.status_code == 422, new.text  # past the signature check

    plain = api.post("/webhooks", json={"workflow": workflow_name, "signed": False}).json()
    assert api.post(f"/webhooks/{plain['id']}/rotate-secret").status_code == 409
    # Batching needs an `events` input; a batch of 0 or 1001 is refused; null clears.
    no_events = api.request("PATCH", f"/webhooks/{plain['id']}", json={"batch": 10})
    assert no_events.status_code == 422 and "events" in no_events.json()["error"]["message"]
    for bad in (0, 1001):
        assert (
            api.request("PATCH", f"/webhooks/{plain['id']}", json={"batch": bad}).status_code == 422
        )
    cleared = api.request("PATCH", f"/webhooks/{plain['id']}", json={"batch": None})
    assert cleared.status_code == 200 and cleared.json()["batch"] is None
    audit = api.get("/audit", params={"action": "webhook"}).text
    assert new_secret not in audit and hook["secret"] not in audit


def test_schedule_edit_on_temporal(api: Api, temporal: str, workflow_name: str) -> None:
    publish(workflow_name)
    created = api.post(
        "/schedules",
        json={
            "workflow": workflow_name,
            "cron": "0 3 * * *",
            "parameters": {"n": 2},
            "paused": True,
        },
    )
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    path = f"/schedules/{sid}"
    changed = api.request(
        "PATCH",
        path,
        json={"cron": "30 6 * * 1", "timezone": "Europe/Paris", "parameters": {"n": 5}},
    )
    assert changed.status_code == 200, changed.text
    got = api.get(path).json()
    assert got["cron"] == "30 6 * * 1" and got["timezone"] == "Europe/Paris"
    assert got["parameters"] == {"n": 5} and got["paused"] is True
    assert got["next_runs"] and all(
        "T06:30:00" in t or "T04:30:00" in t or "T05:30:00" in t for t in got["next_runs"]
    )
    for bad in (
        {"parameters": {"nope": 1}},
        {"parameters": {"n": "x"}},
        {"cron": "not cron"},
        {"timezone": "Mars/Base"},
        {"cron": "* * * * *", "every": "5m"},
    ):
        reply = api.request("PATCH", path, json=bad)
        assert reply.status_code == 422, (bad, reply.text)
    assert api.get(path).json()["parameters"] == {"n": 5}  # nothing half-changed
    every = api.request("PATCH", path, json={"every": "10m", "version": "latest"})
    assert (
        every.status_code == 200 and every.json()["every"] == "10m" and "cron" not in every.json()
    )
    assert api.post(f"{path}/resume").json()["paused"] is False
    assert api.delete(path).status_code == 200
    assert api.request("PATCH", path, json={"cron": "0 * * * *"}).status_code == 404


def test_viewer_and_editor_cannot_edit_what_their_role_forbids(api_server: str, org: Org) -> None:
    viewer = Api(api_server, org.keys[Role.VIEWER])
    editor = Api(api_server, org.keys[Role.EDITOR])
    assert viewer.request("PATCH", "/schedules/x", json={"cron": "0 * * * *"}).status_code == 403
    assert viewer.post("/webhooks/x/rotate-secret").status_code == 403
    assert editor.get("/invitations").status_code == 403
    assert editor.get("/secrets/x/usage").status_code in (404,)  # may read secrets: not found
    assert viewer.get("/secrets/x/usage").status_code == 403
