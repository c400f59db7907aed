"""Circuit-breaker rows (``circuit_breakers``), one per connector and target host.

Every worker process reads and writes the same row. The state changes are
compare-and-set updates or ``SELECT ... FOR UPDATE`` transactions, so concurrent
workers agree on one probe caller and count every failure once; the thresholds and
the error callers see are :mod:`flowat_kernel.sdk.breaker`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.tables import CircuitBreakerRow
from flowat_kernel.store.transactions import Transactions

__all__ = ["BreakerRecord", "BreakerRecords"]


@dataclass(frozen=True)
class BreakerRecord:
    """A breaker's row: ``closed``, ``open`` or ``half_open``."""

    state: str
    failures: int
    openings: int
    open_until: datetime | None


class BreakerRecords(Transactions):
    """The breaker half of :class:`~flowat_kernel.store.Store` (a mixin over its transactions)."""

    def breaker(self, connector: str, host: str) -> BreakerRecord | None:
        """The breaker's row (one read, no transaction), or ``None`` when never used."""
        table = CircuitBreakerRow.__table__
        rows = self.read(
            select(table.c.state, table.c.failures, table.c.openings, table.c.open_until).where(
                table.c.connector == connector, table.c.host == host
            )
        )
        if not rows:
            return None
        row = rows[0]
        return BreakerRecord(row.state, row.failures, row.openings, aware(row.open_until))

    def start_breaker_probe(self, connector: str, host: str, now: datetime) -> bool:
        """Flip an open breaker to half-open; ``True`` for the one caller whose update won."""

        def work(session: Session) -> int:
            result = session.execute(
                update(CircuitBreakerRow)
                .where(
                    CircuitBreakerRow.connector == connector,
                    CircuitBreakerRow.host == host,
                    CircuitBreakerRow.state == "open",
                )
                .values(state="half_open", updated_at=now)
            )
            return int(getattr(result, "rowcount", 0) or 0)

        return bool(self.transaction(work))

    def close_breaker(self, connector: str, host: str) -> None:
        """Close the breaker and reset its count (no write when it is closed at zero)."""
        self.transaction(
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

    def breaker_failure(
        self, connector: str, host: str, threshold: int, reset_seconds: float
    ) -> bool:
        """Count a failure: open after ``threshold`` in a row, or at once when half-open.

        The row is locked (``SELECT ... FOR UPDATE``; created if missing, racing creators
        retried). Returns whether this failure opened the breaker.
        """

        def work(session: Session) -> bool:
            row = _locked_row(session, connector, host)
            now = utcnow()
            row.failures += 1
            opened = False
            if row.state == "half_open" or row.failures >= threshold:
                if row.state != "open":
                    row.openings += 1
                    opened = True
                row.state = "open"
                row.open_until = now + timedelta(seconds=reset_seconds)
            row.updated_at = now
            return opened

        return self.transaction(work, retry_conflicts=True)


def _locked_row(session: Session, connector: str, host: str) -> CircuitBreakerRow:
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
