"""The resolved-webhook cache keeps every check of a delivery, and its window is bounded.

Over real HTTP on the session's Temporal dev server: a cached signed webhook still
refuses a bad signature, a stale timestamp and a replayed id; rotating its secret or
deleting it in this process refuses the old key at once, and a change of its batching
applies to the next delivery. Against the real store: what
another process deleted is seen after at most the cache's window, the cache stays
bounded, and a read racing a deletion is not kept.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

import flowat_kernel as flowat
from flowat_kernel.access import local_principal
from flowat_kernel.access.errors import Unauthenticated
from flowat_kernel.runtime import get_runtime
from flowat_kernel.testing import cells
from flowat_kernel.triggers import webhook_cache
from flowat_kernel.triggers.signatures import decode_secret, sign
from flowat_kernel.triggers.webhooks import Webhooks, _hash
from tests.server.helpers import Api, publish


def _signed(secret: str, body: bytes, stamp: int | None = None) -> dict[str, str]:
    message_id = f"msg_{uuid.uuid4().hex}"
    when = int(time.time()) if stamp is None else stamp
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(when),
        "webhook-signature": sign(decode_secret(secret), message_id, when, body),
        "content-type": "application/json",
    }


def _refused(reply: httpx.Response, words: str) -> None:
    assert reply.status_code == 401, reply.text
    assert words in reply.json()["error"]["message"], reply.text


def test_cached_webhook_keeps_every_check_and_forgets_a_rotated_or_deleted_key(
    api: Api, temporal: str, workflow_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long window: every delivery below is answered from the cache unless forgotten.
    monkeypatch.setattr(webhook_cache, "CACHE_SECONDS", 600.0)
    publish(workflow_name)
    hook = api.post("/webhooks", json={"workflow": workflow_name, "signed": True}).json()
    body = b'{"n": 4}'
    first = _signed(hook["secret"], body)
    assert httpx.post(hook["url"], content=body, headers=first).status_code == 202
    hook_hash = _hash(hook["url"].rsplit("/", 1)[1])
    assert any(slot[1] == hook_hash for slot in webhook_cache._entries)  # cached now

    assert httpx.post(hook["url"], content=body, headers=first).status_code == 409  # replay
    tampered = _signed(hook["secret"], body)
    _refused(httpx.post(hook["url"], content=b'{"n": 5}', headers=tampered), "does not match")
    stale = _signed(hook["secret"], body, stamp=int(time.time()) - 305)
    _refused(httpx.post(hook["url"], content=body, headers=stale), "5 minutes")
    _refused(httpx.post(hook["url"], content=body), "this webhook is signed")
    other = api.post("/webhooks", json={"workflow": workflow_name, "signed": True}).json()
    wrong_key = _signed(other["secret"], body)  # another webhook's secret
    _refused(httpx.post(hook["url"], content=body, headers=wrong_key), "does not match")

    # Rotating the secret: the old key is refused at once, the new one accepted.
    rotated = api.post(f"/webhooks/{hook['id']}/rotate-secret")
    assert rotated.status_code == 201, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != hook["secret"] and new_secret.startswith("whsec_")
    _refused(
        httpx.post(hook["url"], content=body, headers=_signed(hook["secret"], body)),
        "does not match",
    )
    assert httpx.post(hook["url"], content=body, headers=_signed(new_secret, body)).status_code == (
        202
    )
    # ... and the new key is what is cached now: the old one stays refused.
    _refused(
        httpx.post(hook["url"], content=body, headers=_signed(hook["secret"], body)),
        "does not match",
    )

    # Deleting it through the API: its URL stops working at once, with any key.
    assert api.delete(f"/webhooks/{hook['id']}").status_code == 200
    _refused(
        httpx.post(hook["url"], content=body, headers=_signed(new_secret, body)),
        "unknown webhook",
    )
    assert not any(slot[1] == hook_hash for slot in webhook_cache._entries)


def test_changing_batching_is_seen_at_once(
    api: Api, temporal: str, workflow_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_cache, "CACHE_SECONDS", 600.0)
    spec = flowat.compile_workflow(
        workflow_name,
        cells=cells(
            "%%flowat step work --local --foreach events\nout = item", parameters="events = []"
        ),
    )
    get_runtime().store.publish(spec, owner=local_principal().owner, created_by="test")
    hook = api.post("/webhooks", json={"workflow": workflow_name, "signed": False}).json()
    single = httpx.post(hook["url"], json={"events": [{"n": 1}]}, timeout=60)
    assert single.status_code == 202 and "batched" not in single.json(), single.text
    assert api.request("PATCH", f"/webhooks/{hook['id']}", json={"batch": 5}).status_code == 200
    batched = httpx.post(hook["url"], json={"n": 2}, timeout=60)
    assert batched.status_code == 202 and batched.json()["batched"] is True, batched.text
    # An unsigned webhook has no secret to rotate: a clear refusal, nothing changed.
    refused = api.post(f"/webhooks/{hook['id']}/rotate-secret")
    assert refused.status_code == 409 and "not signed" in refused.json()["error"]["message"]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _lookup(registry: Webhooks, token: str, clock: Clock) -> tuple[Any, bytes | None]:
    token_hash = _hash(token)
    return webhook_cache.lookup(
        registry._database, token_hash, lambda: registry._load(token_hash), clock
    )


def test_another_process_deleting_is_seen_within_the_window(
    temporal: str, workflow_name: str
) -> None:
    publish(workflow_name)
    registry = Webhooks(get_runtime().vault)
    created = registry.create(local_principal(), workflow_name, None, signed=True)
    clock = Clock()
    info, key = _lookup(registry, created.token, clock)
    assert info.id == created.info.id and key == decode_secret(created.secret or "")
    # Another process deletes it: its rows go, but nothing tells this process.
    get_runtime().store.delete_webhook(info.owner, info.id, "elsewhere")
    with pytest.raises(Unauthenticated):
        registry._load(_hash(created.token))
    clock.now += webhook_cache.CACHE_SECONDS - 0.01
    assert _lookup(registry, created.token, clock)[0].id == info.id  # still cached
    clock.now += 0.02
    with pytest.raises(Unauthenticated, match="unknown webhook"):  # the window is over
        _lookup(registry, created.token, clock)
    with pytest.raises(Unauthenticated):  # and an unknown token is never cached
        _lookup(registry, created.token, clock)


def test_the_cache_is_bounded_and_a_read_racing_a_deletion_is_not_kept(
    temporal: str, workflow_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(workflow_name)
    registry = Webhooks(get_runtime().vault)
    made = [registry.create(local_principal(), workflow_name, None, signed=False) for _ in range(4)]
    monkeypatch.setattr(webhook_cache, "MAX_ENTRIES", 3)
    monkeypatch.setattr(webhook_cache, "_entries", {})
    clock = Clock()
    for created in made:
        _lookup(registry, created.token, clock)
    assert webhook_cache.resolved() == 3  # the oldest went
    cached = {info.id for info in (e.info for e in webhook_cache._entries.values())}
    assert cached == {c.info.id for c in made[1:]}

    # A deletion while a read is under way: that read's answer is not cached.
    fresh = registry.create(local_principal(), workflow_name, None, signed=False)
    token_hash = _hash(fresh.token)

    def load_then_deleted() -> tuple[Any, bytes | None]:
        found = registry._load(token_hash)
        registry.delete(local_principal(), fresh.info.id)
        return found

    webhook_cache.lookup(registry._database, token_hash, load_then_deleted, clock)
    with pytest.raises(Unauthenticated):
        _lookup(registry, fresh.token, clock)
