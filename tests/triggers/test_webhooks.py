"""Webhooks on the real Temporal dev server over real HTTP: signatures, the replay
window, duplicate ids, and every content type reaching the workflow as plain data."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from flowat_kernel.triggers.signatures import decode_secret, sign
from tests.server.helpers import Api, publish

ECHO = "out = {'n': n, 'payload': payload}"


def _post(url: str, **kw: Any) -> httpx.Response:
    """A delivery with a client timeout that a loaded machine's run start fits in."""
    kw.setdefault("timeout", 60)
    return httpx.post(url, **kw)


def _hook(api: Api, workflow: str, signed: bool) -> dict[str, str]:
    reply = api.post("/webhooks", json={"workflow": workflow, "signed": signed})
    assert reply.status_code == 201, reply.text
    return reply.json()


def _signed_headers(secret: str, body: bytes, stamp: int | None = None) -> dict[str, str]:
    message_id = f"msg_{uuid.uuid4().hex}"
    when = int(time.time()) if stamp is None else stamp
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(when),
        "webhook-signature": sign(decode_secret(secret), message_id, when, body),
        "content-type": "application/json",
    }


def test_signed_webhook_signature_replay_and_duplicates(
    api: Api, temporal: str, workflow_name: str
) -> None:
    publish(workflow_name, body=ECHO)
    hook = _hook(api, workflow_name, signed=True)
    assert hook["secret"].startswith("whsec_") and hook["url"].endswith(hook["path"])
    assert "secret" not in api.get(f"/webhooks/{hook['id']}").json()
    body = b'{"n": 21}'
    headers = _signed_headers(hook["secret"], body)
    reply = _post(hook["url"], content=body, headers=headers, params={"wait": "60s"}, timeout=90)
    assert reply.status_code == 200, reply.text
    run = reply.json()
    assert run["status"] == "succeeded" and run["trigger"] == "webhook"
    assert run["outputs"]["work"]["out"] == {"n": 21, "payload": ""}

    again = _post(hook["url"], content=body, headers=headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    stale = _signed_headers(hook["secret"], body, stamp=int(time.time()) - 305)
    assert _post(hook["url"], content=body, headers=stale).status_code == 401
    future = _signed_headers(hook["secret"], body, stamp=int(time.time()) + 305)
    assert _post(hook["url"], content=body, headers=future).status_code == 401
    tampered = _signed_headers(hook["secret"], body)
    reply = _post(hook["url"], content=b'{"n": 22}', headers=tampered)
    assert reply.status_code == 401 and "signature" in reply.json()["error"]["message"]
    assert _post(hook["url"], content=body).status_code == 401  # unsigned
    # The id of a refused delivery was not used up: the genuine body is accepted once.
    second = _post(hook["url"], content=body, headers=tampered)
    assert second.status_code == 202, second.text
    assert _post(hook["url"], content=body, headers=tampered).status_code == 409
    runs = api.get("/runs", params={"workflow": workflow_name, "trigger": "webhook"}).json()
    assert [r["run_id"] for r in runs["items"]] == [second.json()["run_id"], run["run_id"]]


def test_content_types_reach_the_workflow_as_data(
    api: Api, temporal: str, workflow_name: str
) -> None:
    publish(workflow_name, body=ECHO)
    url = _hook(api, workflow_name, signed=False)["url"]

    def deliver(**kw: object) -> dict[str, object]:
        reply = _post(url, params={"wait": "60s"}, timeout=90, **kw)  # type: ignore[arg-type]
        assert reply.status_code == 200, reply.text
        assert reply.json()["status"] == "succeeded", reply.text
        return reply.json()["outputs"]["work"]["out"]  # type: ignore[no-any-return]

    assert deliver(json={"n": 3, "payload": "x"}) == {"n": 3, "payload": "x"}
    assert deliver(data={"n": "4", "payload": "--version"}) == {"n": 4, "payload": "--version"}
    text = "/etc/passwd"
    out = deliver(content=text.encode(), headers={"content-type": "text/plain"})
    assert out == {"n": 1, "payload": "/etc/passwd"}
    out = deliver(
        files={"payload": ("../../etc/shadow", b"file body", "application/octet-stream")},
        data={"n": "5"},
    )
    assert out == {"n": 5, "payload": "file body"}


def test_bad_deliveries_get_clear_errors(api: Api, temporal: str, workflow_name: str) -> None:
    publish(workflow_name, body=ECHO)
    url = _hook(api, workflow_name, signed=False)["url"]
    cases = [
        (dict(content=b"{not json", headers={"content-type": "application/json"}), 422),
        (dict(json={"nope": 1}), 422),
        (dict(json={"n": "many"}), 422),
        (dict(content=b"\xff\xfe", headers={"content-type": "text/plain"}), 422),
    ]
    for kwargs, status in cases:
        reply = _post(url, **kwargs)  # type: ignore[arg-type]
        assert reply.status_code == status, (kwargs, reply.text)
        assert reply.json()["error"]["message"]
    assert _post(url[:-3] + "xyz", json={}).status_code == 401
    assert httpx.get(url).status_code == 405
    hook_id = api.get("/webhooks").json()["items"][-1]["id"]
    assert api.delete(f"/webhooks/{hook_id}").status_code == 200
    assert _post(url, json={"n": 1}).status_code == 401


def test_a_delivery_reads_its_version_once(api: Api, temporal: str, workflow_name: str) -> None:
    """The version read to parse the body is the one the run starts (not read again)."""
    from sqlalchemy import event

    from flowat_kernel.runtime import get_runtime

    publish(workflow_name, body=ECHO)
    hook = _hook(api, workflow_name, signed=False)
    assert _post(hook["url"], json={"n": 1}).status_code == 202  # caches made, key unwrapped
    reads: list[str] = []

    def seen(_c: object, _cur: object, sql: str, *_: object) -> None:
        if sql.lstrip().startswith("SELECT") and "FROM workflow_versions" in sql:
            reads.append(sql)

    engine = get_runtime().store.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        reply = _post(hook["url"], json={"n": 2})
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert reply.status_code == 202, reply.text
    assert reply.json()["version"] == 1 and reply.json()["trigger"] == "webhook"
    assert len(reads) == 1, reads
