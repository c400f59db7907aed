"""Analytics: every run and step emits events; DuckDB views answer questions over them.

| module | job |
| --- | --- |
| ``events`` | the event schema and the helpers that build run, step and action events |
| ``writer`` | the batched writer: spool files, Parquet by day, crash recovery |
| ``views`` | DuckDB views (``runs``, ``steps``, ``workflow_stats``, ...) over a local folder |
| ``shared_store`` | shared events in PostgreSQL (every host's), read through Arrow |
| ``shared_compaction`` | shared events: compaction to Parquet segments, expiry, deletion |
| ``organization`` | whose events a query sees: the caller's organization's |
| ``sealed`` | the sealed DuckDB database every query runs in |
| ``query`` | :func:`sql`: one SELECT over the caller's organization's views |
| ``scoped`` | the REST API's query, with row, time and memory limits |
| ``retention`` | compacting small files and expiring old days |
| ``dashboard_data`` | the queries behind the ``%flowat dashboard`` widget |
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowat_kernel.lazy import lazy_getattr

if TYPE_CHECKING:
    from flowat_kernel.analytics.query import sql
    from flowat_kernel.analytics.retention import compact

__all__ = ["compact", "sql"]

__getattr__ = lazy_getattr(
    __name__,
    {"sql": "flowat_kernel.analytics.query", "compact": "flowat_kernel.analytics.retention"},
    globals(),
)
