"""Analytics: every run and step emits events; DuckDB views answer questions over them.

| module | job |
| --- | --- |
| ``events`` | the event schema and the helpers that build run, step and action events |
| ``writer`` | the batched writer: spool files, Parquet by day, crash recovery |
| ``views`` | DuckDB views (``runs``, ``steps``, ``workflow_stats``, ...) and :func:`sql` |
| ``retention`` | compacting small files and expiring old days |
| ``dashboard_data`` | the queries behind the ``%flowat dashboard`` widget |
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowat_kernel.lazy import lazy_getattr

if TYPE_CHECKING:
    from flowat_kernel.analytics.retention import compact
    from flowat_kernel.analytics.views import sql

__all__ = ["compact", "sql"]

__getattr__ = lazy_getattr(
    __name__,
    {"sql": "flowat_kernel.analytics.views", "compact": "flowat_kernel.analytics.retention"},
    globals(),
)
