"""Claiming a dead letter for a retry, on SQLite and PostgreSQL: of many concurrent
claims exactly one wins; only its holder settles it; a stale claim can be taken over."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

from flowat_kernel.store import Store


def _park(store: Store, owner: str) -> str:
    letter_id = uuid.uuid4().hex
    store.park_dead_letter(
        letter_id,
        owner=owner,
        run_id=uuid.uuid4().hex,
        workflow="wf",
        version=1,
        step="work",
        sealed_task=b"sealed",
        error={"message": "boom"},
    )
    return letter_id


def _past() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=10)


def test_of_concurrent_claims_exactly_one_wins(store: Store) -> None:
    owner = f"org-{uuid.uuid4().hex[:8]}"
    letter_id = _park(store, owner)
    gate = threading.Barrier(8)
    won: list[str] = []

    def claim(token: str) -> None:
        gate.wait()
        if store.claim_dead_letter(owner, letter_id, token, _past()):
            won.append(token)

    threads = [threading.Thread(target=claim, args=(f"claim-{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    letter, _ = store.get_dead_letter(owner, letter_id)
    assert letter.status == "retrying" and letter.redrive_run_id == won[0]

    # Only the holder settles it; then it is retried as the run, and cannot be claimed.
    assert not store.settle_dead_letter_claim(letter_id, "claim-other", "run-x")
    assert store.settle_dead_letter_claim(letter_id, won[0], "run-1")
    letter, _ = store.get_dead_letter(owner, letter_id)
    assert (letter.status, letter.redrive_run_id) == ("retried", "run-1")
    assert not store.claim_dead_letter(owner, letter_id, "late", datetime.now(UTC))


def test_a_failed_start_parks_again_and_a_stale_claim_is_taken_over(store: Store) -> None:
    owner = f"org-{uuid.uuid4().hex[:8]}"
    letter_id = _park(store, owner)
    assert not store.claim_dead_letter("another-org", letter_id, "c0", _past())
    assert store.claim_dead_letter(owner, letter_id, "c1", _past())
    assert store.settle_dead_letter_claim(letter_id, "c1", None)
    letter, _ = store.get_dead_letter(owner, letter_id)
    assert (letter.status, letter.redrive_run_id, letter.resolved_at) == ("parked", None, None)

    assert store.claim_dead_letter(owner, letter_id, "c2", _past())
    assert not store.claim_dead_letter(owner, letter_id, "c3", _past())  # held, not stale
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert store.claim_dead_letter(owner, letter_id, "c4", later)  # its holder died
    assert not store.settle_dead_letter_claim(letter_id, "c2", "run-2")
    assert store.settle_dead_letter_claim(letter_id, "c4", "run-4")
    assert store.get_dead_letter(owner, letter_id)[0].redrive_run_id == "run-4"
