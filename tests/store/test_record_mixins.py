"""The store's access, audit, vault, breaker and trigger records on SQLite and PostgreSQL.

The layers above (access, vault, breakers, triggers) are tested through their own
APIs; these pin the store-level contracts they rely on: guards that refuse write
nothing, compare-and-set updates have one winner, duplicate deliveries are refused,
rotation batches re-wrap only rows still under an old key.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flowat_kernel.errors import NotFoundError
from flowat_kernel.store import Store, utcnow
from flowat_kernel.store.secret_records import SealedColumns

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'flowat.db'}"
    else:  # a database of its own: rotation batches re-wrap every row in it
        url = request.getfixturevalue("new_postgres_database")("flowat_records")
    result = Store(url)
    yield result
    result.close()


@pytest.fixture
def org() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"


class Refused(Exception):
    pass


def test_a_refusing_guard_writes_nothing_and_holders_count_inside(store: Store, org: str) -> None:
    assert store.create_organization(org, org, "alice", "owner") is not None
    assert store.create_organization(org, "again", "bob", "owner") is None
    seen: list[tuple[str | None, int]] = []

    def refuse(previous: str | None, holders: Callable[[str], int]) -> None:
        seen.append((previous, holders("owner")))
        raise Refused

    with pytest.raises(Refused):
        store.set_membership(org, "bob", "editor", "alice", refuse)
    with pytest.raises(Refused):
        store.remove_membership(org, "alice", "alice", refuse)
    assert seen == [(None, 1), ("owner", 1)]
    assert [(m.user, m.role) for m in store.members(org)] == [("alice", "owner")]
    store.set_membership(org, "bob", "editor", "alice", lambda previous, holders: None)
    assert store.member_role(org, "bob") == "editor"
    with pytest.raises(NotFoundError):
        store.remove_membership(org, "carol", "alice", lambda previous, holders: None)
    actions = [
        e.action for e in store.audit_sources(org, limit=10, before=None, logged_triggers=())
    ]
    assert sorted(actions) == ["member.role_changed", "organization.created"]


def test_api_key_rows_round_trip(store: Store, org: str) -> None:
    store.create_organization(org, org, "alice", "owner")
    common: dict[str, Any] = {
        "owner": org,
        "name": "ci",
        "key_hash": "h" * 64,
        "scopes": ["runs:read"],
        "workflows": None,
        "created_by": "alice",
        "expires_in": timedelta(hours=1),
    }
    with pytest.raises(NotFoundError):
        store.add_api_key(key_id="k0", user="nobody", guard=lambda: None, **common)
    key_id = uuid.uuid4().hex[:12]
    added = store.add_api_key(key_id=key_id, user="alice", guard=lambda: None, **common)
    assert store.find_api_key(key_id) == added
    assert added.expires_at is not None and added.expires_at > utcnow()
    store.replace_api_key(org, key_id, "k2", timedelta(seconds=5), "alice")
    replaced = store.api_key(org, key_id)
    assert replaced.replaced_by == "k2"
    assert replaced.expires_at is not None and replaced.expires_at < added.expires_at
    assert store.revoke_api_key(org, key_id, "alice").revoked_at is not None
    with pytest.raises(NotFoundError):
        store.api_key("someone-else", key_id)


def test_breaker_probe_has_one_winner_and_failures_open_it(store: Store) -> None:
    host = f"h-{uuid.uuid4().hex[:8]}"
    assert store.breaker("http", host) is None
    assert store.breaker_failure("http", host, threshold=2, reset_seconds=0.0) is False
    assert store.breaker_failure("http", host, threshold=2, reset_seconds=0.0) is True
    opened = store.breaker("http", host)
    assert opened is not None and (opened.state, opened.failures, opened.openings) == (
        "open",
        2,
        1,
    )
    now = utcnow()
    assert store.start_breaker_probe("http", host, now) is True
    assert store.start_breaker_probe("http", host, now) is False
    assert store.breaker_failure("http", host, threshold=2, reset_seconds=60.0) is True
    store.close_breaker("http", host)
    closed = store.breaker("http", host)
    assert closed is not None and (closed.state, closed.failures) == ("closed", 0)


def test_a_delivery_is_claimed_once(store: Store, org: str) -> None:
    webhook = store.add_webhook(
        webhook_id=uuid.uuid4().hex[:16],
        owner=org,
        workflow="wf",
        version=None,
        token_hash=uuid.uuid4().hex,
        token_hint="wh_abcde",
        signed=False,
        created_by="alice",
    )
    now = utcnow()
    horizon = now - timedelta(minutes=10)
    assert store.claim_webhook_delivery(webhook.id, "m1", now, horizon) is True
    assert store.claim_webhook_delivery(webhook.id, "m1", now, horizon) is False
    store.release_webhook_delivery(webhook.id, "m1")
    assert store.claim_webhook_delivery(webhook.id, "m1", now, horizon) is True
    store.delete_webhook(org, webhook.id, "alice")
    with pytest.raises(NotFoundError):
        store.webhook(org, webhook.id)


def test_rewrap_batches_move_rows_off_old_keys(store: Store, org: str) -> None:
    for i in range(3):
        sealed = SealedColumns("mk-old", b"n" * 12, b"c", b"t" * 16, b"w%d" % i)
        store.put_secret(org, f"s{i}", sealed, "alice")
    store.add_vault_key(f"pk-{org}", "payload", "mk-old", b"pw")
    before = store.master_keys_in_use()
    assert before.get("mk-old", 0) >= 4

    def rewrap(row: Any, key_id: str, wrapped: bytes) -> bytes:
        assert key_id == "mk-old"
        return b"new-" + wrapped

    done = 0
    while count := store.rewrap_batch("mk-new", 2, rewrap, rewrap):
        done += count
    assert done == before["mk-old"]
    assert "mk-old" not in store.master_keys_in_use()
    assert store.vault_keys("payload", f"pk-{org}")[0].wrapped_key == b"new-pw"
    column = store.sealed_secret(org, "s1")
    assert column is not None and (column.key_id, column.wrapped_key) == ("mk-new", b"new-w1")
    assert store.delete_secret(org, "s1", "alice") is True
    assert store.delete_secret(org, "s1", "alice") is False
    assert [e.action for e in store.secret_events(org, "s1")] == ["set", "delete"]
