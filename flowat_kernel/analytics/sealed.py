"""A DuckDB database that holds one organization's events and can reach nothing else.

Every analytics query (``flowat analytics sql``, ``%%flowat sql``,
``flowat.analytics.sql``, the dashboard and ``POST /analytics/query``) runs in such a
database: the organization's events (an Arrow table already filtered) are its only
data, the views are defined over them, and only then is it sealed:

- file system access is off (``read_parquet``, ``read_csv``, ``glob``, ``ATTACH`` of a
  file, ``COPY``, ``INSTALL``/``LOAD`` have nothing to reach, the analytics folder
  included);
- Python replacement scans are off (a query cannot name a Python variable of the
  process, such as another organization's events);
- the configuration is locked (no ``SET`` undoes the above);
- the text must be exactly one ``SELECT`` (``WITH``, ``FROM``, ``VALUES``,
  ``DESCRIBE``, ``SUMMARIZE`` are forms of it), checked by DuckDB's parser before
  anything runs.

A :class:`SealedDatabase` is built once per filtered table and serves many queries, each
through its own cursor (a new DuckDB connection to that database: its own session, so
nothing a query leaves in its session, temporary objects, variables or a random seed,
reaches the next one). The database's own catalog (the views) cannot be changed by a
query: only one ``SELECT`` runs. A registered Arrow table is visible only to the
connection that registered it, so each cursor registers the same events again (no
copy). :func:`sealed_connection` gives a private database instead, for callers that
hand the connection on (a relation returned to Python code).
"""

from __future__ import annotations

import threading
from typing import Any

import duckdb

from flowat_kernel.analytics.views import VIEWS, query_failed
from flowat_kernel.errors import FlowAtError

__all__ = ["EVENTS_TABLE", "MEMORY_LIMIT", "SealedDatabase", "one_select", "sealed_connection"]

#: The most memory the queries of one sealed database may use together.
MEMORY_LIMIT = "512MB"
#: The name each cursor gives the organization's events (``events`` is a view of it).
EVENTS_TABLE = "organization_events"

_parser: duckdb.DuckDBPyConnection | None = None
_parser_lock = threading.Lock()


def one_select(query: str) -> None:
    """Refuse anything but exactly one SELECT statement (parsed, never run).

    One parser connection serves the process (parsing runs nothing and changes
    nothing; a new connection per query cost about 20 ms).

    Raises:
        FlowAtError: empty, several statements, not a SELECT, or not parseable.

    """
    global _parser
    if not query.strip():
        raise FlowAtError("the analytics query is empty; give one SELECT statement")
    with _parser_lock:
        if _parser is None:
            _parser = duckdb.connect(config={"enable_external_access": False})
        try:
            statements = _parser.extract_statements(query)
        except duckdb.Error as exc:
            raise query_failed(exc) from None
    if len(statements) != 1:
        raise FlowAtError(
            f"the analytics query holds {len(statements)} statements; give exactly one SELECT"
        )
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise FlowAtError(
            f"the analytics query is not a SELECT (it is {kind.name}); only a read-only "
            "SELECT over the views is allowed"
        )


def _sealed(events: Any, threads: int | None) -> duckdb.DuckDBPyConnection:
    """A new in-memory database over ``events`` with the views, configuration locked."""
    config: dict[str, Any] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "memory_limit": MEMORY_LIMIT,
        "temp_directory": "",  # never spill to disk
        # Global settings, so every cursor's session starts with them too.
        "python_enable_replacements": False,
        "python_scan_all_frames": False,
    }
    if threads is not None:
        config["threads"] = threads
    connection = duckdb.connect(config=config)
    connection.execute("SET GLOBAL TimeZone = 'UTC'")  # ICU's setting: not a connect option
    # A registered table is scanned in place (no copy); it holds only what may be seen.
    connection.register(EVENTS_TABLE, events)
    connection.execute(f"CREATE VIEW events AS SELECT * FROM {EVENTS_TABLE}")
    for name, sql in VIEWS.items():
        connection.execute(f"CREATE VIEW {name} AS {sql}")
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")
    return connection


def sealed_connection(events: Any, *, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A private in-memory database over ``events`` (an Arrow table) and the views, sealed.

    For a caller that hands the connection on (a relation returned to Python code can
    run statements on it): nothing it does reaches another query. About 20 to 30 ms;
    queries that only read results should use a :class:`SealedDatabase`'s cursors.

    Args:
        events: the organization's events, already filtered (the only data reachable).
        threads: DuckDB threads (default: DuckDB's, one per core).

    """
    return _sealed(events, threads)


class SealedDatabase:
    """One organization's events in a sealed database, queried through fresh cursors.

    Build it once per filtered table and call :meth:`cursor` per query (microseconds
    instead of a new database's 20 to 30 ms). Only ever give it one organization's
    events: whoever holds it sees them.

    Args:
        events: the organization's events, already filtered (an Arrow table).
        threads: DuckDB threads (default: DuckDB's, one per core).

    """

    def __init__(self, events: Any, *, threads: int | None = None) -> None:
        self.events = events
        self.threads = threads
        self._connection = _sealed(events, threads)
        self._lock = threading.Lock()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new session on the database, its events registered; close it after the query.

        Raises:
            duckdb.ConnectionException: the database was closed.

        """
        with self._lock:
            cursor = self._connection.cursor()
        cursor.register(EVENTS_TABLE, self.events)
        return cursor

    def close(self) -> None:
        """Close the database now (its open cursors too); a dropped one closes by itself."""
        self._connection.close()
