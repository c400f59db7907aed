"""What keeps the API answering: bounded pools, bounded waits, per-caller concurrency.

Handlers (authentication included) run on the API's own pool of ``threads`` threads,
never on the event loop's default one. A request that waits for a run
(``wait_seconds``, a webhook's ``?wait=``) gives its thread back while it waits: the
wait is awaited on the event loop and takes one of ``waits`` wait slots, with its short
store reads on a small pool of their own. When every slot is taken, a new waiting
request answers at once with the run as it stands (202), never by queueing behind the
others.

Each credential (the ``Authorization`` header; the client's address without one) may
have ``per_credential`` requests in flight, and each webhook ``per_webhook``
deliveries; the next one is answered ``429`` with ``Retry-After``.

Refused requests are audited at most ``denied_per_minute`` times per credential and
per address each minute (:class:`~flowat_kernel.access.audit.DeniedAttempts`).

Every number has a default and an environment variable (``FLOWAT_API_THREADS``,
``FLOWAT_API_WAITS``, ``FLOWAT_API_PER_CREDENTIAL``, ``FLOWAT_API_PER_WEBHOOK``,
``FLOWAT_API_DENIED_PER_MINUTE``).
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from flowat_kernel.access.audit import DeniedAttempts
from flowat_kernel.config_values import _count
from flowat_kernel.server.errors import ApiError

__all__ = ["Gates", "Limits", "fingerprint"]

#: What ``Retry-After`` says when a caller is over its concurrency (seconds).
RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class Limits:
    """The API's bounds (see the module's documentation)."""

    threads: int = 16
    waits: int = 64
    per_credential: int = 8
    per_webhook: int = 4
    wait_threads: int = 4
    denied_per_minute: int = 10

    @classmethod
    def from_env(cls) -> Limits:
        """The bounds set by ``FLOWAT_API_*`` variables, defaults for the rest.

        Raises:
            ConfigError: a value that is not a whole number of at least 1.

        """
        return cls(
            threads=_count("FLOWAT_API_THREADS", cls.threads),
            waits=_count("FLOWAT_API_WAITS", cls.waits),
            per_credential=_count("FLOWAT_API_PER_CREDENTIAL", cls.per_credential),
            per_webhook=_count("FLOWAT_API_PER_WEBHOOK", cls.per_webhook),
            denied_per_minute=_count("FLOWAT_API_DENIED_PER_MINUTE", cls.denied_per_minute),
        )


def fingerprint(secret: str) -> str:
    """A short stable name for a credential or webhook token (never the value itself)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


@dataclass
class Gates:
    """The pools and counters of one API application."""

    limits: Limits
    _in_flight: dict[str, int] = field(default_factory=dict)
    _waiting: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pool: ThreadPoolExecutor | None = None
    _wait_pool: ThreadPoolExecutor | None = None
    denied: DeniedAttempts = field(init=False)

    def __post_init__(self) -> None:
        self.denied = DeniedAttempts(per_source=self.limits.denied_per_minute, window=60.0)

    @property
    def pool(self) -> ThreadPoolExecutor:
        """Where handlers and authentication run (``threads`` threads)."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.limits.threads, "flowat-api")
            return self._pool

    @property
    def wait_pool(self) -> ThreadPoolExecutor:
        """Where waiting requests read the store between sleeps."""
        with self._lock:
            if self._wait_pool is None:
                self._wait_pool = ThreadPoolExecutor(self.limits.wait_threads, "flowat-api-wait")
            return self._wait_pool

    def enter(self, bucket: str, webhook: bool) -> None:
        """Count one request of ``bucket`` in flight.

        Raises:
            ApiError: 429 when the bucket is at its limit (nothing is counted then).

        """
        limit = self.limits.per_webhook if webhook else self.limits.per_credential
        with self._lock:
            current = self._in_flight.get(bucket, 0)
            if current >= limit:
                what = "this webhook" if webhook else "this credential"
                raise ApiError(
                    429,
                    "too_many_requests",
                    f"{what} already has {limit} requests in flight; "
                    f"retry after {RETRY_AFTER_SECONDS}s",
                )
            self._in_flight[bucket] = current + 1

    def leave(self, bucket: str) -> None:
        """One request of ``bucket`` finished."""
        with self._lock:
            left = self._in_flight.get(bucket, 0) - 1
            if left > 0:
                self._in_flight[bucket] = left
            else:
                self._in_flight.pop(bucket, None)

    def start_wait(self) -> bool:
        """Take a wait slot; ``False`` when all ``waits`` are taken."""
        with self._lock:
            if self._waiting >= self.limits.waits:
                return False
            self._waiting += 1
            return True

    def end_wait(self) -> None:
        """Give a wait slot back."""
        with self._lock:
            self._waiting = max(self._waiting - 1, 0)

    def close(self) -> None:
        """Stop the pools (running handlers finish)."""
        with self._lock:
            pools, self._pool, self._wait_pool = (self._pool, self._wait_pool), None, None
        for pool in pools:
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
