"""Read-only SQL over one organization's analytics views, with row, time and memory limits.

What the REST API's ``POST /analytics/query`` runs. The query never sees another
organization's events, nor any file: the organization's events (those of its runs,
and of the workflows a key is limited to) are copied into a fresh in-memory DuckDB
database, the views are defined over that copy, and only then does the query run,
with file system access switched off and the configuration locked. So ``read_parquet``
or ``read_csv`` of a path, ``glob``, ``ATTACH``, ``COPY``, ``INSTALL``/``LOAD`` and
``SET`` have nothing to reach, and a CTE over the raw tables finds only the copy. The
text must also be exactly one ``SELECT`` statement (``WITH``, ``FROM``, ``VALUES``,
``DESCRIBE`` and ``SUMMARIZE`` are forms of it); anything else is refused before it
runs. Events with no run (a circuit breaker opening) belong to no organization and
are left out.
"""

from __future__ import annotations

import base64
import math
import threading
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from flowat_kernel.analytics.views import VIEWS, connect, query_failed
from flowat_kernel.analytics.writer import flush_writers
from flowat_kernel.errors import FlowAtError

__all__ = ["MAX_ROWS", "MAX_SECONDS", "QueryResult", "query_organization"]

#: The most rows one query returns, and the longest it may run.
MAX_ROWS = 10_000
MAX_SECONDS = 60.0

_MEMORY_LIMIT = "512MB"
_lock = threading.Lock()


@dataclass(frozen=True)
class QueryResult:
    """Columns, rows (JSON-able values) and whether rows were cut at the limit."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "columns": self.columns,
            "rows": self.rows,
            "row_count": len(self.rows),
            "truncated": self.truncated,
        }


def _plain(value: Any) -> Any:
    """A DuckDB value as JSON data."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def _one_select(query: str) -> None:
    """Refuse anything but exactly one SELECT statement (parsed, never run)."""
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


def _organization_events(folder: Path, owner: str, workflows: tuple[str, ...] | None) -> Any:
    """The events of ``owner``'s runs (of ``workflows`` only, when given), as Arrow."""
    with _lock:
        source = connect(folder)
    try:
        runs = "SELECT DISTINCT run_id FROM events WHERE owner = ? AND run_id IS NOT NULL"
        parameters: list[Any] = [owner]
        if workflows is not None:
            runs += " AND workflow IN (SELECT unnest(?::VARCHAR[]))"
            parameters.append(list(workflows))
        return source.sql(
            f"SELECT * FROM events WHERE run_id IN ({runs})", params=parameters
        ).to_arrow_table()
    finally:
        source.close()


def _sealed_connection(events: Any) -> duckdb.DuckDBPyConnection:
    """A fresh database holding only ``events`` and the views, cut off from files."""
    connection = duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "threads": 1,
            "memory_limit": _MEMORY_LIMIT,
            "temp_directory": "",  # never spill to disk
        }
    )
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("organization_events", events)
    connection.execute("CREATE TABLE events AS SELECT * FROM organization_events")
    connection.unregister("organization_events")
    for name, sql in VIEWS.items():
        connection.execute(f"CREATE VIEW {name} AS {sql}")
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")
    return connection


def query_organization(
    folder: Path,
    owner: str,
    query: str,
    *,
    workflows: tuple[str, ...] | None = None,
    limit: int = 1000,
    timeout: float = 10.0,
) -> QueryResult:
    """Run one read-only SELECT over ``owner``'s views; at most ``limit`` rows.

    Args:
        folder: the analytics folder (``FLOWAT_HOME/analytics``).
        owner: the organization whose runs' events are queried.
        query: one SELECT statement (DuckDB's dialect) over the views and ``events``.
        workflows: only these workflows' runs (a key limited to some workflows).
        limit: the most rows returned (1 to :data:`MAX_ROWS`); ``truncated`` says more
            were there.
        timeout: seconds the query may run (up to :data:`MAX_SECONDS`) before it is
            interrupted.

    Raises:
        FlowAtError: not one SELECT statement, DuckDB refused or failed it (syntax,
            unknown table, a file function), it ran out of time or memory, or a limit
            is out of range.

    """
    if not 1 <= limit <= MAX_ROWS:
        raise FlowAtError(f"limit must be 1 to {MAX_ROWS} rows, not {limit}")
    if not 0 < timeout <= MAX_SECONDS:
        raise FlowAtError(f"timeout must be more than 0 and at most {MAX_SECONDS:g} seconds")
    _one_select(query)
    flush_writers(folder)
    connection = _sealed_connection(_organization_events(folder, owner, workflows))
    timer = threading.Timer(timeout, connection.interrupt)
    timer.start()
    try:
        cursor = connection.execute(query)
        columns = [column[0] for column in cursor.description or ()]
        fetched = cursor.fetchmany(limit + 1)
    except duckdb.InterruptException:
        raise FlowAtError(
            f"the analytics query ran longer than {timeout:g}s and was stopped; "
            "narrow it (a WHERE on day or workflow, fewer joins)"
        ) from None
    except duckdb.OutOfMemoryException:
        raise FlowAtError(
            f"the analytics query needed more than {_MEMORY_LIMIT} of memory; narrow it"
        ) from None
    except duckdb.Error as exc:
        raise query_failed(exc) from None
    finally:
        timer.cancel()
        connection.close()
    rows = [[_plain(value) for value in row] for row in fetched[:limit]]
    return QueryResult(columns, rows, truncated=len(fetched) > limit)
