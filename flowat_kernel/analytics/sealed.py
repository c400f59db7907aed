"""A DuckDB database that holds one organization's events and can reach nothing else.

Every analytics query (``flowat analytics sql``, ``%%flowat sql``,
``flowat.analytics.sql``, the dashboard and ``POST /analytics/query``) runs in such a
database: the organization's events (an Arrow table already filtered) are its only
table, the views are defined over it, and only then is it sealed:

- file system access is off (``read_parquet``, ``read_csv``, ``glob``, ``ATTACH`` of a
  file, ``COPY``, ``INSTALL``/``LOAD`` have nothing to reach, the analytics folder
  included);
- Python replacement scans are off (a query cannot name a Python variable of the
  process, such as another organization's events);
- the configuration is locked (no ``SET`` undoes the above);
- the text must be exactly one ``SELECT`` (``WITH``, ``FROM``, ``VALUES``,
  ``DESCRIBE``, ``SUMMARIZE`` are forms of it), checked by DuckDB's parser before
  anything runs.
"""

from __future__ import annotations

from typing import Any

import duckdb

from flowat_kernel.analytics.views import VIEWS, query_failed
from flowat_kernel.errors import FlowAtError

__all__ = ["MEMORY_LIMIT", "one_select", "sealed_connection"]

#: The most memory one query may use.
MEMORY_LIMIT = "512MB"


def one_select(query: str) -> None:
    """Refuse anything but exactly one SELECT statement (parsed, never run).

    Raises:
        FlowAtError: empty, several statements, not a SELECT, or not parseable.

    """
    if not query.strip():
        raise FlowAtError("the analytics query is empty; give one SELECT statement")
    parser = duckdb.connect(config={"enable_external_access": False})
    try:
        statements = parser.extract_statements(query)
    except duckdb.Error as exc:
        raise query_failed(exc) from None
    finally:
        parser.close()
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


def sealed_connection(events: Any, *, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory database over ``events`` (an Arrow table) and the views, sealed.

    Args:
        events: the organization's events, already filtered (the only data reachable).
        threads: DuckDB threads (default: DuckDB's, one per core).

    """
    config: dict[str, Any] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "memory_limit": MEMORY_LIMIT,
        "temp_directory": "",  # never spill to disk
    }
    if threads is not None:
        config["threads"] = threads
    connection = duckdb.connect(config=config)
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("SET python_enable_replacements = false")
    # A registered table is scanned in place (no copy); it holds only what may be seen.
    connection.register("organization_events", events)
    connection.execute("CREATE VIEW events AS SELECT * FROM organization_events")
    for name, sql in VIEWS.items():
        connection.execute(f"CREATE VIEW {name} AS {sql}")
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")
    return connection
