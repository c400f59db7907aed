"""A short-lived, process-wide cache of resolved webhooks: token to record and signing key.

Resolving a delivery's URL token costs a store read and, for a signed webhook,
unwrapping its signing key from the vault. A burst of deliveries to one webhook would
repeat both for every event, so :class:`~flowat_kernel.triggers.webhooks.Webhooks`
keeps what it resolved here for :data:`CACHE_SECONDS`.

What stays exactly as without the cache: every delivery's signature, timestamp window
and duplicate id are checked against the cached key, and the run still acts as an
Editor of the webhook's organization. Only webhooks that were found are cached: an
unknown token always reads the store.

The window, and what it means:

- **In this process** deleting a webhook, rotating its signing secret or changing its
  batching forgets it at once (:func:`forget`), so the next delivery reads the store
  and is refused (deleted), checked against the new key (rotated) or batched as now
  set. A read that started before such a change is not cached after it (a generation
  count), so a stale entry cannot slip back in.
- **In another process** (a second ``flowat serve``, the Jupyter server extension) a
  change made elsewhere is seen after at most :data:`CACHE_SECONDS`: until then that
  process still accepts deliveries signed with the old key (each one still within the
  replay window and with an id not seen before), or a deleted webhook's.

Entries hold the unwrapped key in memory only (never logged, never in a repr); at most
:data:`MAX_ENTRIES` webhooks are kept, the oldest dropped first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar, cast

from flowat_kernel.store.trigger_records import WebhookRecord

__all__ = ["CACHE_SECONDS", "MAX_ENTRIES", "ResolvedWebhook", "forget", "lookup", "resolved"]

#: How long a resolved webhook is reused without reading the store again (seconds).
CACHE_SECONDS = 5.0

#: At most this many webhooks are kept (the oldest entry goes first).
MAX_ENTRIES = 1024

#: What the caller's ``load`` returns and gets back: a webhook's record, as it shows it.
Info = TypeVar("Info", bound=WebhookRecord)


@dataclass(frozen=True)
class ResolvedWebhook:
    """A webhook found by its token, and its signing key when it is signed."""

    info: WebhookRecord
    key: bytes | None = field(repr=False)
    expires: float = field(repr=False)


_entries: dict[tuple[str, str], ResolvedWebhook] = {}
_generation = 0
_lock = threading.Lock()


def lookup(
    database: str,
    token_hash: str,
    load: Callable[[], tuple[Info, bytes | None]],
    clock: Callable[[], float] = time.monotonic,
) -> tuple[Info, bytes | None]:
    """The webhook of ``token_hash`` in ``database``: cached, or ``load()`` and cache it.

    ``load`` reads the store and unwraps the key; whatever it raises (an unknown token)
    passes through and nothing is cached.
    """
    now = clock()
    slot = (database, token_hash)
    with _lock:
        found = _entries.get(slot)
        if found is not None and found.expires > now:
            return cast(Info, found.info), found.key  # what this caller's load made
        generation = _generation
    info, key = load()
    with _lock:
        if generation == _generation:  # no webhook was forgotten while we read
            _entries.pop(slot, None)
            if len(_entries) >= MAX_ENTRIES:
                for stale in [s for s, e in _entries.items() if e.expires <= now]:
                    del _entries[stale]
                while len(_entries) >= MAX_ENTRIES:
                    del _entries[next(iter(_entries))]
            _entries[slot] = ResolvedWebhook(info, key, now + CACHE_SECONDS)
    return info, key


def forget(webhook_id: str) -> None:
    """Drop every cached entry of a webhook (deleted, its secret rotated, its batching changed)."""
    global _generation
    with _lock:
        _generation += 1
        for slot in [s for s, e in _entries.items() if e.info.id == webhook_id]:
            del _entries[slot]


def resolved() -> int:
    """How many webhooks are cached now (for tests and diagnostics)."""
    with _lock:
        return len(_entries)
