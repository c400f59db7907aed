"""Approval links in the store on SQLite and PostgreSQL: one use wins a race, an expired
link is never used, and tokens check out only for their own run and fields."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from flowat_kernel.access.approval_tokens import ApprovalKeys, BadToken, split_token
from flowat_kernel.store import Store
from flowat_kernel.store.approval_records import ApprovalLinkRecord
from flowat_kernel.store.clock import utcnow
from flowat_kernel.vault.vault import Vault


@pytest.fixture(params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, new_postgres_database: Callable[[str], str]
) -> Iterator[Store]:
    url = (
        f"sqlite:///{tmp_path / 'store.db'}"
        if request.param == "sqlite"
        else new_postgres_database("flowat_appr")
    )
    made = Store(url)
    yield made
    made.close()


def _link(expires_in: float = 3600, run_id: str = "r" * 32) -> ApprovalLinkRecord:
    now = utcnow().replace(microsecond=0)
    return ApprovalLinkRecord(
        id=uuid.uuid4().hex,
        owner="acme",
        run_id=run_id,
        step="approval",
        signal="approved",
        key_id="",
        reviewer="grace",
        created_by="ada",
        created_at=now,
        expires_at=now + timedelta(seconds=expires_in),
        consumed_at=None,
        decision=None,
        decided_by=None,
    )


def test_one_use_wins_a_race(store: Store) -> None:
    link = _link()
    store.add_approval_link(link)
    wins: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def click(n: int) -> None:
        barrier.wait()
        won = store.consume_approval_link(link.id, "approve", f"tab-{n}", utcnow())
        with lock:
            wins.append(won)

    threads = [threading.Thread(target=click, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]
    used = store.approval_link(link.id)
    assert used is not None and used.decision == "approve" and used.consumed_at is not None


def test_an_expired_link_is_never_used(store: Store) -> None:
    link = _link(expires_in=60)
    store.add_approval_link(link)
    later = utcnow() + timedelta(minutes=2)
    assert not store.consume_approval_link(link.id, "approve", "grace", later)
    assert store.consume_approval_link(link.id, "approve", "grace", utcnow())


def test_tokens_are_bound_to_their_run_and_fields(store: Store, tmp_path: Path) -> None:
    vault = Vault(store, tmp_path / "home", "acme")
    keys = ApprovalKeys(vault)
    link = _link()
    link = ApprovalLinkRecord(**{**link.__dict__, "key_id": keys.current()})
    token = keys.sign(link)
    link_id, signature = split_token(token)
    assert link_id == link.id
    keys.check(link, signature, link.run_id)  # the genuine token passes
    with pytest.raises(BadToken):
        keys.check(link, signature, "s" * 32)  # another run's URL
    for field, value in [("step", "other"), ("signal", "go"), ("owner", "evil")]:
        changed = ApprovalLinkRecord(**{**link.__dict__, field: value})
        with pytest.raises(BadToken):
            keys.check(changed, signature, link.run_id)
    later = ApprovalLinkRecord(
        **{**link.__dict__, "expires_at": link.expires_at + timedelta(days=1)}
    )
    with pytest.raises(BadToken):
        keys.check(later, signature, link.run_id)  # a stretched expiry
    assert keys.check_form(link, keys.form_token(link))
    form = keys.form_token(link)
    assert not keys.check_form(link, form[:-1] + ("A" if form[-1] != "A" else "B"))
    assert not keys.check_form(link, "")
    other_run = ApprovalLinkRecord(**{**link.__dict__, "run_id": "s" * 32})
    assert not keys.check_form(other_run, form)  # another run's page form
    for bad in ("", "x.y", token + "=", token.replace(".", "-")):
        with pytest.raises(BadToken):
            split_token(bad)
    # The signing key is a vault data key, not the master key, and never the same twice.
    other = Vault(Store(f"sqlite:///{tmp_path / 'other.db'}"), tmp_path / "home2", "acme")
    assert ApprovalKeys(other).current() != link.key_id
