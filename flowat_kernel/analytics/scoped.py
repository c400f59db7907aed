"""Read-only SQL over one organization's analytics views, with row, time and memory limits.

What the REST API's ``POST /analytics/query`` runs. Like every analytics query, it
sees only the organization's events (those of its runs, and of the workflows a key is
limited to; :mod:`flowat_kernel.analytics.organization`), local or shared, in a sealed
database with no file access (:mod:`flowat_kernel.analytics.sealed`). On top of that
it returns at most :data:`MAX_ROWS` rows as JSON data, runs on one thread and is
stopped after its time limit; the organization's queries share
:data:`~flowat_kernel.analytics.sealed.MEMORY_LIMIT` of memory in this process.
"""

from __future__ import annotations

import base64
import contextlib
import math
import threading
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from flowat_kernel.analytics.organization import organization_cursor
from flowat_kernel.analytics.sealed import MEMORY_LIMIT, one_select
from flowat_kernel.analytics.views import query_failed
from flowat_kernel.errors import FlowAtError

__all__ = ["MAX_ROWS", "MAX_SECONDS", "QueryResult", "query_organization"]

#: The most rows one query returns, and the longest it may run.
MAX_ROWS = 10_000
MAX_SECONDS = 60.0


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


def _interrupter(cursor: duckdb.DuckDBPyConnection) -> Any:
    """Stop ``cursor``'s query; nothing if the cursor is already closed."""

    def interrupt() -> None:
        with contextlib.suppress(duckdb.ConnectionException):  # it ended as the timer fired
            cursor.interrupt()

    return interrupt


def query_organization(
    folder: Path,
    owner: str,
    query: str,
    *,
    workflows: tuple[str, ...] | None = None,
    limit: int = 1000,
    timeout: float = 10.0,
    database_url: str | None = None,
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
        database_url: the store (default: ``FLOWAT_DATABASE_URL``); on PostgreSQL the
            shared events of every host are read.

    Raises:
        FlowAtError: not one SELECT statement, DuckDB refused or failed it (syntax,
            unknown table, a file function), it ran out of time or memory, or a limit
            is out of range.

    """
    if not 1 <= limit <= MAX_ROWS:
        raise FlowAtError(f"limit must be 1 to {MAX_ROWS} rows, not {limit}")
    if not 0 < timeout <= MAX_SECONDS:
        raise FlowAtError(f"timeout must be more than 0 and at most {MAX_SECONDS:g} seconds")
    one_select(query)
    with organization_cursor(
        folder, owner, workflows, database_url=database_url, threads=1
    ) as cursor:
        timer = threading.Timer(timeout, _interrupter(cursor))
        timer.start()
        try:
            cursor.execute(query)
            columns = [column[0] for column in cursor.description or ()]
            fetched = cursor.fetchmany(limit + 1)
        except duckdb.InterruptException:
            raise FlowAtError(
                f"the analytics query ran longer than {timeout:g}s and was stopped; "
                "narrow it (a WHERE on day or workflow, fewer joins)"
            ) from None
        except duckdb.OutOfMemoryException:
            raise FlowAtError(
                f"the analytics queries of the organization needed more than {MEMORY_LIMIT} "
                "of memory; narrow the query"
            ) from None
        except duckdb.Error as exc:
            raise query_failed(exc) from None
        finally:
            timer.cancel()
    rows = [[_plain(value) for value in row] for row in fetched[:limit]]
    return QueryResult(columns, rows, truncated=len(fetched) > limit)
