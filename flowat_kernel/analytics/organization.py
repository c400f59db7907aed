"""Whose events a query sees: the caller's organization's, from wherever events are kept.

Events are kept in ``FLOWAT_HOME/analytics`` (Parquet and live spools; the embedded
default) or, with the store on PostgreSQL, in the shared tables every host writes to
(:mod:`flowat_kernel.analytics.shared_store`). :func:`organization_events` reads the
events of one organization's runs from either, as an Arrow table: the only data a
sealed query database (:mod:`flowat_kernel.analytics.sealed`) is given, and
:func:`organization_cursor` a cursor on such a database.

With shared events, the filtered table of an organization (and of a key's workflows) is
kept while the snapshot it came from is current, and so is the sealed database built
over it: a query then costs a cursor, not a new database. Each kept database holds the
one filtered table it was built with and is found only under that table's snapshot,
organization and workflows.

An event belongs to the organization of its run (the ``owner`` its run events carry).
An event with no run, a circuit breaker opening, is shown to the organizations whose
runs called that connector on that host (the breaker is shared; what it names, they
already know); any other organization does not see it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowat_kernel.analytics.sealed import SealedDatabase
from flowat_kernel.analytics.shared_store import SharedEvents, shared_events
from flowat_kernel.analytics.views import connect
from flowat_kernel.analytics.writer import flush_writers, recover_orphans

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from flowat_kernel.access.principal import Principal

__all__ = ["caller", "organization_cursor", "organization_events"]


@dataclass
class _Filtered:
    """One organization's events of one shared snapshot, and the databases over them."""

    shared: SharedEvents
    snapshot: Any  # the snapshot's table (compared by identity)
    owner: str
    workflows: tuple[str, ...] | None
    table: Any
    databases: dict[int | None, SealedDatabase] = field(default_factory=dict)

    def database(self, threads: int | None) -> SealedDatabase:
        """The sealed database over :attr:`table` with ``threads`` (built on first use)."""
        with _lock:
            found = self.databases.get(threads)
        if found is not None:
            return found
        built = SealedDatabase(self.table, threads=threads)  # outside the lock: ~30 ms
        with _lock:
            return self.databases.setdefault(threads, built)


_lock = threading.Lock()
#: The last few filtered tables, newest first.
_filtered: list[_Filtered] = []
_KEPT = 8


def caller() -> Principal:
    """The principal of this process: ``FLOWAT_API_KEY``'s member, else the local user.

    What ``flowat.analytics.sql`` and the dashboard widget query as when not told whose
    events to show.

    Raises:
        Unauthenticated: ``FLOWAT_API_KEY`` is set but is not a valid, current key.
        Forbidden: the principal may not read runs (``runs:read``).

    """
    from flowat_kernel.access.service import access, local_principal

    services = access()
    key = os.environ.get("FLOWAT_API_KEY", "").strip()
    principal = services.keys.authenticate(key) if key else local_principal(services)
    principal.require("runs:read")
    return principal


def _local(folder: Path, owner: str, workflows: tuple[str, ...] | None) -> pa.Table:
    with _lock:
        source = connect(folder)
    try:
        runs = "SELECT DISTINCT run_id FROM events WHERE owner = ? AND run_id IS NOT NULL"
        parameters: list[Any] = [owner]
        if workflows is not None:
            runs += " AND workflow IN (SELECT unnest(?::VARCHAR[]))"
            parameters.append(list(workflows))
        return source.sql(
            f"""WITH mine AS ({runs})
            SELECT * FROM events WHERE run_id IN (SELECT run_id FROM mine)
            UNION ALL
            SELECT * FROM events b
            WHERE b.run_id IS NULL AND b.event = 'breaker_opened' AND EXISTS (
                SELECT 1 FROM events a
                WHERE a.event = 'action' AND a.connector = b.connector AND a.host = b.host
                  AND a.run_id IN (SELECT run_id FROM mine))""",
            params=parameters,
        ).to_arrow_table()
    finally:
        source.close()


def _filter(everything: pa.Table, owner: str, workflows: tuple[str, ...] | None) -> pa.Table:
    import pyarrow as pa
    import pyarrow.compute as pc

    mine = pc.equal(everything["owner"], pa.scalar(owner, pa.string()))
    if workflows is not None:
        listed = pc.is_in(everything["workflow"], value_set=pa.array(workflows, pa.string()))
        mine = pc.and_(mine, listed)
    runs = pc.unique(everything["run_id"].filter(pc.fill_null(mine, False)))
    runs = runs.filter(pc.is_valid(runs))
    kept = pc.fill_null(pc.is_in(everything["run_id"], value_set=runs), False)
    # Breaker openings of the (connector, host) pairs the organization's runs called.
    pair = pc.binary_join_element_wise(everything["connector"], everything["host"], "\x1f")
    called = pc.unique(pair.filter(pc.and_(kept, pc.equal(everything["event"], "action"))))
    called = called.filter(pc.is_valid(called))
    breakers = pc.and_(
        pc.and_(pc.is_null(everything["run_id"]), pc.equal(everything["event"], "breaker_opened")),
        pc.is_in(pair, value_set=called),
    )
    return everything.filter(pc.or_(kept, pc.fill_null(breakers, False)))


def _shared_filtered(
    folder: Path, owner: str, workflows: tuple[str, ...] | None, database_url: str | None
) -> _Filtered | None:
    """The kept filtered events of the current shared snapshot; None for local events."""
    flush_writers(folder)
    shared = shared_events(database_url)
    if shared is None:
        return None
    recover_orphans(folder, shared)  # this host's dead processes' spools first
    everything = shared.snapshot()
    with _lock:
        for entry in _filtered:
            same = entry.owner == owner and entry.workflows == workflows
            if same and entry.snapshot is everything:
                return entry
    made = _Filtered(shared, everything, owner, workflows, _filter(everything, owner, workflows))
    with _lock:
        # An older snapshot of the same events is never served again: let it go.
        _filtered[:] = [e for e in _filtered if e.shared is not shared or e.snapshot is everything]
        _filtered.insert(0, made)
        del _filtered[_KEPT:]
    return made


def organization_events(
    folder: Path,
    owner: str,
    workflows: tuple[str, ...] | None = None,
    *,
    database_url: str | None = None,
) -> pa.Table:
    """The events of ``owner``'s runs (of ``workflows`` only, when given), as Arrow.

    This process's pending events are flushed first, so they are included.

    Args:
        folder: ``FLOWAT_HOME/analytics`` (its spools; its Parquet files when local).
        owner: the organization (its slug).
        workflows: only these workflows' runs (a key limited to some workflows).
        database_url: the store (default: ``FLOWAT_DATABASE_URL``); on PostgreSQL the
            shared events of every host are read.

    """
    entry = _shared_filtered(folder, owner, workflows, database_url)
    if entry is None:
        return _local(folder, owner, workflows)
    return entry.table


@contextlib.contextmanager
def organization_cursor(
    folder: Path,
    owner: str,
    workflows: tuple[str, ...] | None = None,
    *,
    database_url: str | None = None,
    threads: int | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on a sealed database of :func:`organization_events`; closed on exit.

    With shared events the database is kept with the filtered table and reused while
    the snapshot is current (each query its own cursor: nothing one leaves in its
    session reaches the next); with local events it is built for this query and closed.

    Args:
        folder: ``FLOWAT_HOME/analytics``.
        owner: the organization (its slug).
        workflows: only these workflows' runs (a key limited to some workflows).
        database_url: the store (default: ``FLOWAT_DATABASE_URL``).
        threads: DuckDB threads of the database (default: one per core).

    """
    entry = _shared_filtered(folder, owner, workflows, database_url)
    if entry is None:
        database = SealedDatabase(_local(folder, owner, workflows), threads=threads)
    else:
        database = entry.database(threads)
    cursor = database.cursor()
    try:
        yield cursor
    finally:
        cursor.close()
        if entry is None:
            database.close()
