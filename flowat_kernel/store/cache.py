"""Definition cache: immutable version specs by content hash.

In process always; in Redis too when ``FLOWAT_REDIS_URL`` is set. Versions never
change, so nothing is ever invalidated. A Redis outage costs only speed: the cache
logs one warning, stops asking Redis for a while, and the store answers instead.

Redis is not trusted: an entry is used only when its content hashes to the key it is
stored under, so a poisoned or corrupted entry is ignored (and logged), never run. Use
``rediss://`` for TLS and ``redis://:PASSWORD@host`` (or ``redis://USER:PASSWORD@host``)
for AUTH in ``FLOWAT_REDIS_URL``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

from flowat_kernel.spec import WorkflowSpec

__all__ = ["SpecCache"]

log = logging.getLogger(__name__)
_KEY = "flowat:spec:"
_RETRY_AFTER_SECONDS = 30.0


class SpecCache:
    """A bounded LRU of parsed specs, backed by Redis when configured."""

    def __init__(self, redis_url: str | None = None, size: int = 512) -> None:
        self._items: OrderedDict[str, WorkflowSpec] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()
        self._redis_url = redis_url
        self._redis: Any = None
        self._redis_down_until = 0.0

    def _client(self) -> Any:
        if not self._redis_url or time.monotonic() < self._redis_down_until:
            return None
        if self._redis is None:
            import redis

            self._redis = redis.Redis.from_url(
                self._redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
            )
        return self._redis

    def _redis_failed(self, exc: Exception) -> None:
        if self._redis_down_until == 0.0 or time.monotonic() >= self._redis_down_until:
            log.warning(
                "Redis definition cache at %s unavailable (%s); using the store for %.0fs",
                self._redis_url,
                exc.__class__.__name__,
                _RETRY_AFTER_SECONDS,
            )
        self._redis_down_until = time.monotonic() + _RETRY_AFTER_SECONDS

    def _remember(self, spec_hash: str, spec: WorkflowSpec) -> None:
        with self._lock:
            self._items[spec_hash] = spec
            self._items.move_to_end(spec_hash)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def get(self, spec_hash: str) -> WorkflowSpec | None:
        """Return the spec with this hash, or ``None`` when neither tier has it."""
        with self._lock:
            spec = self._items.get(spec_hash)
        if spec is not None:
            return spec
        client = self._client()
        if client is None:
            return None
        try:
            raw = client.get(_KEY + spec_hash)
        except Exception as exc:  # any Redis failure only costs speed
            self._redis_failed(exc)
            return None
        if raw is None:
            return None
        try:
            spec = WorkflowSpec.model_validate_json(raw)
        except ValueError:
            spec = None
        if spec is None or spec.content_hash() != spec_hash:
            log.warning(
                "ignored the Redis definition cache entry for %s: its content does not hash "
                "to its key (altered or corrupted); the store answers instead",
                spec_hash[:19],
            )
            return None
        self._remember(spec_hash, spec)
        return spec

    def put(self, spec_hash: str, spec: WorkflowSpec) -> None:
        """Remember ``spec`` under its hash in every tier."""
        self._remember(spec_hash, spec)
        client = self._client()
        if client is None:
            return
        try:
            client.set(_KEY + spec_hash, spec.canonical_json())
        except Exception as exc:
            self._redis_failed(exc)
