"""API keys over real HTTP: shown once, hashed at rest, scoped, workflow-limited,
expiring, revoked at once, rotated with an overlap window."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path

import pytest

from flowat_kernel.access import Role, access, local_principal
from flowat_kernel.cli.main import main
from flowat_kernel.runtime import get_runtime
from tests.server.helpers import Api, local_key, new_org, publish


def test_key_shown_once_and_only_its_hash_is_stored(
    api: Api, flowat_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reply = api.post("/keys", json={"name": "ci", "scopes": ["runs:read"]})
    assert reply.status_code == 201
    created = reply.json()
    key = created["key"]
    assert key.startswith("flowat_" + created["id"] + "_") and len(key) > 50
    assert created["prefix"] == "flowat_" + created["id"]
    assert api.as_(key).get("/runs").status_code == 200
    listed = api.get(f"/keys/{created['id']}").json()
    assert "key" not in listed and listed["last_used_at"] is not None
    assert all("key" not in k for k in api.get("/keys").json()["items"])
    secret_part = key.split("_", 2)[2]
    database = (flowat_home / "flowat.db").read_bytes()
    for suffix in ("-wal", "-shm"):
        extra = flowat_home / f"flowat.db{suffix}"
        if extra.exists():
            database += extra.read_bytes()
    assert secret_part.encode() not in database
    assert secret_part not in caplog.text
    audit = api.get("/audit", params={"action": "key.created"}).json()["items"]
    assert audit[0]["target"] == created["id"] and secret_part not in str(audit)


def test_revocation_is_effective_at_once(api: Api) -> None:
    key = api.post("/keys", json={"name": "r", "scopes": ["*"]}).json()
    other = api.as_(key["key"])
    assert other.get("/me").status_code == 200
    assert api.delete(f"/keys/{key['id']}").json()["revoked_at"]
    reply = other.get("/me")
    assert reply.status_code == 401 and "revoked" in reply.json()["error"]["message"]


def test_expired_key_is_refused(api: Api) -> None:
    created = api.post("/keys", json={"name": "e", "scopes": ["*"], "expires_in_seconds": 1})
    key = created.json()["key"]
    assert api.as_(key).get("/me").status_code == 200
    time.sleep(1.2)
    reply = api.as_(key).get("/me")
    assert reply.status_code == 401 and "expired" in reply.json()["error"]["message"]


def test_out_of_scope_and_malformed_keys(api: Api) -> None:
    reader = api.as_(local_key(["workflows:read"]))
    assert reader.get("/workflows").status_code == 200
    denied = reader.get("/runs")
    assert denied.status_code == 403 and "runs:read" in denied.json()["error"]["message"]
    # A key cannot hand out more than its creator holds.
    assert reader.post("/keys", json={"name": "x", "scopes": ["*"]}).status_code == 403
    for bad in ("flowat_nope_nope", "flowat_", "garbage", "flowat_" + "a" * 500):
        assert api.as_(bad).get("/me").status_code == 401
    assert api.get("/me", headers={"Authorization": "Basic abc"}).status_code == 401
    assert api.post("/keys", json={"name": "x", "scopes": ["runs:fly"]}).status_code == 422


def test_workflow_limited_key(api: Api, workflow_name: str) -> None:
    other = workflow_name + "_other"
    publish(workflow_name)
    publish(other)
    limited = api.post(
        "/keys", json={"name": "one", "scopes": ["*"], "workflows": [workflow_name]}
    ).json()["key"]
    client = api.as_(limited)
    names = [w["name"] for w in client.get("/workflows").json()["items"]]
    assert names == [workflow_name]
    assert client.get(f"/workflows/{workflow_name}").status_code == 200
    assert client.get(f"/workflows/{other}").status_code == 404
    assert client.post(f"/workflows/{other}/runs", json={}).status_code == 403
    assert client.get("/secrets").status_code == 403
    assert client.get("/keys").status_code == 403


def test_rotation_keeps_the_old_key_for_the_overlap(api: Api) -> None:
    first = api.post("/keys", json={"name": "rot", "scopes": ["runs:read"]}).json()
    rotated = api.post(f"/keys/{first['id']}/rotate", json={"overlap_seconds": 1}).json()
    assert rotated["key"] != first["key"] and rotated["scopes"] == ["runs:read"]
    assert api.as_(first["key"]).get("/runs").status_code == 200
    assert api.as_(rotated["key"]).get("/runs").status_code == 200
    time.sleep(1.2)
    assert api.as_(first["key"]).get("/runs").status_code == 401
    assert api.as_(rotated["key"]).get("/runs").status_code == 200
    assert api.get(f"/keys/{first['id']}").json()["replaced_by"] == rotated["id"]


def test_cross_organization_keys_and_ids_do_not_cross(api: Api, workflow_name: str) -> None:
    org = new_org("iso")
    theirs = api.as_(org.keys[Role.OWNER])
    publish(workflow_name)
    mine = api.post("/keys", json={"name": "mine", "scopes": ["*"]}).json()
    assert theirs.get(f"/workflows/{workflow_name}").status_code == 404
    assert workflow_name not in str(theirs.get("/workflows").json())
    assert theirs.get(f"/keys/{mine['id']}").status_code == 404
    assert theirs.delete(f"/keys/{mine['id']}").status_code == 404
    assert theirs.get("/audit").json()["items"][-1]["action"] == "organization.created"
    hook = api.post("/webhooks", json={"workflow": workflow_name}).json()
    assert theirs.get(f"/webhooks/{hook['id']}").status_code == 404
    assert theirs.delete(f"/webhooks/{hook['id']}").status_code == 404
    assert theirs.get("/webhooks").json()["items"] == []
    store = get_runtime().store
    version = store.get_version(local_principal().owner, workflow_name)
    store.create_run("isolated-run-" + workflow_name, version, {}, "rest", "wf-id")
    assert api.get(f"/runs/isolated-run-{workflow_name}").status_code == 200
    for path in ("", "/steps", "/outputs"):
        assert theirs.get(f"/runs/isolated-run-{workflow_name}{path}").status_code == 404
    assert theirs.post(f"/runs/isolated-run-{workflow_name}/cancel").status_code == 404
    assert theirs.get("/runs").json()["items"] == []
    assert theirs.post(f"/workflows/{workflow_name}/runs", json={}).status_code == 404
    assert all(m["user"].endswith(org.slug) for m in theirs.get("/members").json()["items"])


def test_cli_creates_a_key_printed_once(
    flowat_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "keys",
                "create",
                "--scope",
                "runs:write",
                "--scope",
                "workflows:read",
                "--name",
                "cli-test",
                "--expires",
                "30d",
            ]
        )
        == 0
    )
    out, err = capsys.readouterr()
    key = out.strip()
    assert key.startswith("flowat_") and "only time" in err
    principal = access().authenticate(key)
    assert principal.scopes == ("runs:write", "workflows:read")
    assert main(["keys", "list"]) == 0
    listing, _ = capsys.readouterr()
    assert "cli-test" in listing and key not in listing
    assert main(["keys", "revoke", key.rsplit("_", 1)[0]]) == 0
    capsys.readouterr()
    with pytest.raises(Exception, match="revoked"):
        access().authenticate(key)
    services = access()
    rotated = services.keys.create(
        local_principal(), name="t", scopes=["*"], expires_in=timedelta(days=1)
    )
    assert rotated.info.expires_at is not None
    get_runtime()
