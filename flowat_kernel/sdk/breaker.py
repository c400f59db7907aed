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
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flowat_kernel.errors import ConfigError
from flowat_kernel.sdk.errors import CircuitOpen
from flowat_kernel.store import Store
from flowat_kernel.store.repository import aware, utcnow
from flowat_kernel.store.tables import CircuitBreakerRow

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

    def _row(self, session: Session, connector: str, host: str) -> CircuitBreakerRow:
        row = session.get(CircuitBreakerRow, (connector, host), with_for_update=True)
        if row is None:
            try:
                with session.begin_nested():
                    row = CircuitBreakerRow(
                        connector=connector,
                        host=host,
                        state="closed",
                        failures=0,
                        openings=0,
                        updated_at=utcnow(),
                    )
                    session.add(row)
            except IntegrityError:  # another process created it first
                row = session.get(CircuitBreakerRow, (connector, host), with_for_update=True)
                assert row is not None
        return row

    def before_call(self, connector: str, host: str) -> None:
        """Let a call through, or fail fast.

        Raises:
            CircuitOpen: the breaker is open (or half-open with a probe in flight).

        """
        now = utcnow()
        state = self.store.read(
            select(
                CircuitBreakerRow.state, CircuitBreakerRow.open_until, CircuitBreakerRow.failures
            ).where(CircuitBreakerRow.connector == connector, CircuitBreakerRow.host == host)
        )
        if not state or state[0].state == "closed":
            return
        current, until, failures = state[0].state, aware(state[0].open_until), state[0].failures
        if current == "open" and until is not None and now >= until:
            probing = self.store.transaction(
                lambda s: _count(
                    s.execute(
                        update(CircuitBreakerRow)
                        .where(
                            CircuitBreakerRow.connector == connector,
                            CircuitBreakerRow.host == host,
                            CircuitBreakerRow.state == "open",
                        )
                        .values(state="half_open", updated_at=now)
                    )
                )
            )
            if probing:
                return  # this caller makes the probe call
            current = "half_open"
        raise _open_error(connector, host, current, until, failures)

    def success(self, connector: str, host: str) -> None:
        """Record a successful call: a half-open breaker closes, the count resets."""
        self.store.transaction(
            lambda s: s.execute(
                update(CircuitBreakerRow)
                .where(
                    CircuitBreakerRow.connector == connector,
                    CircuitBreakerRow.host == host,
                    (CircuitBreakerRow.state != "closed") | (CircuitBreakerRow.failures != 0),
                )
                .values(state="closed", failures=0, open_until=None, updated_at=utcnow())
            )
        )

    def failure(self, connector: str, host: str) -> None:
        """Record a retryable failure: open after the threshold, or again after a probe."""
        settings = self.settings

        def work(session: Session) -> bool:
            row = self._row(session, connector, host)
            now = utcnow()
            row.failures += 1
            opened = False
            if row.state == "half_open" or row.failures >= settings.failures:
                if row.state != "open":
                    row.openings += 1
                    opened = True
                row.state = "open"
                row.open_until = now + timedelta(seconds=settings.reset_seconds)
            row.updated_at = now
            return opened

        if self.store.transaction(work, retry_conflicts=True) and self.on_open is not None:
            self.on_open(connector, host)

    def state(self, connector: str, host: str) -> dict[str, object]:
        """The breaker's state (``closed`` when never used), for people and tests."""
        table = CircuitBreakerRow.__table__
        rows = self.store.read(
            select(table.c.state, table.c.failures, table.c.openings, table.c.open_until).where(
                table.c.connector == connector, table.c.host == host
            )
        )
        if not rows:
            return {"state": "closed", "failures": 0, "openings": 0, "open_until": None}
        row = rows[0]
        return {
            "state": row.state,
            "failures": row.failures,
            "openings": row.openings,
            "open_until": aware(row.open_until),
        }


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


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
