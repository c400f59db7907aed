"""Connector host rate limits (``rate_limits``) and their admitted calls (``rate_limit_leases``).

Every worker process admits calls through the same rows. An admission is one
transaction that first writes the limit's row (a row lock on PostgreSQL, the write lock
on SQLite), so admissions to one host are serialised across processes and hosts; it
then counts the calls in flight and those that ended less than a second ago, and adds
a lease only when both limits allow it. The waiting, the matching of hosts and the
errors people see are :mod:`flowat_kernel.sdk.rate_limits`'s.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.tables import RateLimitLeaseRow, RateLimitRow
from flowat_kernel.store.transactions import Transactions

__all__ = ["WINDOW_SECONDS", "Admission", "RateLimitInfo", "RateLimitRecords"]

#: A call counts against ``per_second`` from its start until this long after it ended.
WINDOW_SECONDS = 1.0


@dataclass(frozen=True)
class RateLimitInfo:
    """One organization's limit for a host (``connector='*'``: every connector)."""

    connector: str
    host: str
    per_second: int | None
    concurrent: int | None
    updated_at: datetime | None
    updated_by: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        data = asdict(self)
        data["updated_at"] = self.updated_at.isoformat() if self.updated_at else None
        return data


@dataclass(frozen=True)
class Admission:
    """The answer to one try: a lease (admitted), or how long to wait before trying again.

    ``lease`` is ``""`` when the host has no limit (nothing to release).
    """

    lease: str | None
    retry_after: float = 0.0


def _info(row: RateLimitRow) -> RateLimitInfo:
    return RateLimitInfo(
        row.connector,
        row.host,
        row.per_second,
        row.concurrent,
        aware(row.updated_at),
        row.updated_by,
    )


class RateLimitRecords(Transactions):
    """The rate-limit half of :class:`~flowat_kernel.store.Store` (a mixin)."""

    def set_rate_limit(
        self,
        owner: str,
        connector: str,
        host: str,
        per_second: int | None,
        concurrent: int | None,
        user: str,
    ) -> RateLimitInfo:
        """Create or replace the limit for ``connector`` (``*``: any) at ``host``."""

        def work(session: Session) -> RateLimitInfo:
            row = session.get(RateLimitRow, (owner, connector, host), with_for_update=True)
            if row is None:
                row = RateLimitRow(owner=owner, connector=connector, host=host)
                session.add(row)
            row.per_second, row.concurrent = per_second, concurrent
            row.updated_at, row.updated_by = utcnow(), user
            session.flush()
            return _info(row)

        return self.transaction(work, retry_conflicts=True)

    def rate_limits(self, owner: str) -> list[RateLimitInfo]:
        """The organization's limits, by host then connector."""
        return self.transaction(
            lambda s: [
                _info(row)
                for row in s.scalars(
                    select(RateLimitRow)
                    .where(RateLimitRow.owner == owner)
                    .order_by(RateLimitRow.host, RateLimitRow.connector)
                )
            ]
        )

    def remove_rate_limit(self, owner: str, connector: str, host: str) -> RateLimitInfo | None:
        """Remove a limit and its leases; ``None`` when there was none."""

        def work(session: Session) -> RateLimitInfo | None:
            row = session.get(RateLimitRow, (owner, connector, host))
            if row is None:
                return None
            info = _info(row)
            session.delete(row)
            session.execute(delete(RateLimitLeaseRow).where(*_lease_key(owner, connector, host)))
            return info

        return self.transaction(work)

    def rate_limit_for(
        self, owner: str, connector: str, hosts: tuple[str, ...]
    ) -> RateLimitInfo | None:
        """The limit a call of ``connector`` to the first matching of ``hosts`` obeys.

        A limit for the connector itself wins over one for every connector (``*``);
        earlier ``hosts`` (the exact ``host:port``) win over later ones (the host name).
        One read, no transaction.
        """
        table = RateLimitRow.__table__
        rows = self.read(
            select(table).where(
                table.c.owner == owner,
                table.c.connector.in_((connector, "*")),
                table.c.host.in_(hosts),
            )
        )
        if not rows:
            return None

        def rank(row: Any) -> tuple[int, int]:
            return (hosts.index(row.host), 0 if row.connector == connector else 1)

        best = min(rows, key=rank)
        return RateLimitInfo(
            best.connector,
            best.host,
            best.per_second,
            best.concurrent,
            aware(best.updated_at),
            best.updated_by,
        )

    def try_rate_slot(self, owner: str, limit: RateLimitInfo, lease_seconds: float) -> Admission:
        """Admit one call under ``limit`` now, or say how long to wait before trying again.

        The limit's row is written first, which serialises admissions to the host across
        every process (and re-reads the limit: a removed limit admits without a lease).
        """
        key = (owner, limit.connector, limit.host)

        def work(session: Session) -> Admission:
            now = utcnow()
            touched = session.execute(
                update(RateLimitRow)
                .where(
                    RateLimitRow.owner == owner,
                    RateLimitRow.connector == limit.connector,
                    RateLimitRow.host == limit.host,
                )
                .values(used_at=now)
            )
            if not int(getattr(touched, "rowcount", 0) or 0):
                return Admission("")
            row = session.get(RateLimitRow, key)
            assert row is not None
            window = now - timedelta(seconds=WINDOW_SECONDS)
            session.execute(
                delete(RateLimitLeaseRow).where(
                    *_lease_key(*key),
                    or_(
                        RateLimitLeaseRow.finished_at < window,
                        RateLimitLeaseRow.expires_at < now,
                    ),
                )
            )
            in_flight, recent, oldest_end = session.execute(
                select(
                    func.count().filter(RateLimitLeaseRow.finished_at.is_(None)),
                    func.count(),
                    func.min(RateLimitLeaseRow.finished_at),
                ).where(*_lease_key(*key))
            ).one()
            if row.concurrent is not None and in_flight >= row.concurrent:
                return Admission(None, 0.05)
            if row.per_second is not None and recent >= row.per_second:
                ended = aware(oldest_end)
                wait = (ended - window).total_seconds() if ended is not None else 0.05
                return Admission(None, max(0.005, min(wait, WINDOW_SECONDS)))
            lease = uuid.uuid4().hex
            session.add(
                RateLimitLeaseRow(
                    id=lease,
                    owner=owner,
                    connector=limit.connector,
                    host=limit.host,
                    started_at=now,
                    expires_at=now + timedelta(seconds=lease_seconds),
                )
            )
            return Admission(lease)

        return self.transaction(work, retry_conflicts=True)

    def end_rate_slot(self, owner: str, lease: str) -> None:
        """Mark an admitted call as ended (it still counts per second for a second)."""
        if not lease:
            return
        self.transaction(
            lambda s: s.execute(
                update(RateLimitLeaseRow)
                .where(RateLimitLeaseRow.id == lease, RateLimitLeaseRow.owner == owner)
                .values(finished_at=utcnow())
            )
        )


def _lease_key(owner: str, connector: str, host: str) -> tuple[Any, ...]:
    return (
        RateLimitLeaseRow.owner == owner,
        RateLimitLeaseRow.connector == connector,
        RateLimitLeaseRow.host == host,
    )
