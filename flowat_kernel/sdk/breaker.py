"""Circuit breakers, one per connector and target host, shared through the metadata store.

Every worker process reads and writes the same row, so a host that keeps failing is
cut off for all of them at once:

- **closed**: calls go through; consecutive retryable failures are counted.
- **open**: after ``failures`` of them, calls fail fast with :class:`CircuitOpen`
  (which says until when) for ``reset`` seconds, without touching the host.
- **half-open**: after that, one caller (whoever flips the row first) makes a probe
  call; success closes the breaker, failure opens it again. Others fail fast meanwhile.

Non-retryable errors (bad input, a 4xx) say nothing about the host's health and are
not counted.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flowat_kernel.errors import ConfigError
from flowat_kernel.sdk.errors import CircuitOpen
from flowat_kernel.store import Store
from flowat_kernel.store.repository import utcnow

__all__ = ["BreakerSettings", "CircuitBreakers"]


@dataclass(frozen=True)
class BreakerSettings:
    """Thresholds: ``FLOWAT_BREAKER_FAILURES`` (5) and ``FLOWAT_BREAKER_RESET`` (30 s)."""

    failures: int = 5
    reset_seconds: float = 30.0

    @classmethod
    def from_env(cls) -> BreakerSettings:
        """Read the thresholds from the environment.

        Raises:
            ConfigError: a value is not a positive number.

        """
        try:
            failures = int(os.environ.get("FLOWAT_BREAKER_FAILURES") or 5)
            reset = float(os.environ.get("FLOWAT_BREAKER_RESET") or 30.0)
        except ValueError:
            failures, reset = 0, 0.0
        if failures < 1 or reset <= 0:
            raise ConfigError(
                "FLOWAT_BREAKER_FAILURES must be a whole number >= 1 and "
                "FLOWAT_BREAKER_RESET a positive number of seconds"
            )
        return cls(failures, reset)


class CircuitBreakers:
    """The breakers of one metadata store."""

    def __init__(
        self,
        store: Store,
        settings: BreakerSettings | None = None,
        on_open: Callable[[str, str], None] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings or BreakerSettings.from_env()
        self.on_open = on_open

    def before_call(self, connector: str, host: str) -> None:
        """Let a call through, or fail fast.

        Raises:
            CircuitOpen: the breaker is open (or half-open with a probe in flight).

        """
        now = utcnow()
        row = self.store.breaker(connector, host)
        if row is None or row.state == "closed":
            return
        current, until, failures = row.state, row.open_until, row.failures
        if current == "open" and until is not None and now >= until:
            if self.store.start_breaker_probe(connector, host, now):
                return  # this caller makes the probe call
            current = "half_open"
        raise _open_error(connector, host, current, until, failures)

    def success(self, connector: str, host: str) -> None:
        """Record a successful call: a half-open breaker closes, the count resets."""
        self.store.close_breaker(connector, host)

    def failure(self, connector: str, host: str) -> None:
        """Record a retryable failure: open after the threshold, or again after a probe."""
        settings = self.settings
        opened = self.store.breaker_failure(
            connector, host, settings.failures, settings.reset_seconds
        )
        if opened and self.on_open is not None:
            self.on_open(connector, host)

    def state(self, connector: str, host: str) -> dict[str, object]:
        """The breaker's state (``closed`` when never used), for people and tests."""
        row = self.store.breaker(connector, host)
        if row is None:
            return {"state": "closed", "failures": 0, "openings": 0, "open_until": None}
        return {
            "state": row.state,
            "failures": row.failures,
            "openings": row.openings,
            "open_until": row.open_until,
        }


def _open_error(
    connector: str, host: str, state: str, until: datetime | None, failures: int
) -> CircuitOpen:
    if state == "half_open":
        message = (
            f"circuit breaker for {connector} at {host} is half-open: a probe call is in "
            "flight; not calling until it tells whether the host has recovered"
        )
    else:
        when = until.strftime("%H:%M:%S UTC") if until else "later"
        message = (
            f"circuit breaker for {connector} at {host} is open after {failures} failures "
            f"in a row: failing fast until {when}, then one probe call"
        )
    return CircuitOpen(message, host=host, until=until.timestamp() if until else 0.0)
