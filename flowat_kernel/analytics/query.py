"""``flowat.analytics.sql``: one SELECT over the caller's organization's analytics views.

What ``flowat analytics sql`` and ``%%flowat sql`` run (through the workspace, which
passes its principal's organization). The query sees the organization's events only,
in a sealed database (:mod:`flowat_kernel.analytics.sealed`): no file, no other
organization's events, whether the events are local or shared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from flowat_kernel.analytics.organization import caller, organization_cursor, organization_events
from flowat_kernel.analytics.sealed import one_select, sealed_connection
from flowat_kernel.analytics.views import analytics_folder, query_failed

__all__ = ["sql"]


def sql(
    query: str,
    *,
    folder: Path | None = None,
    frame: bool = False,
    owner: str | None = None,
    workflows: tuple[str, ...] | None = None,
    database_url: str | None = None,
) -> Any:
    """Run one SELECT over an organization's analytics views; a DuckDB relation or a frame.

    Args:
        query: one SELECT (DuckDB's dialect) over the views and ``events``.
        folder: the analytics folder (default: ``FLOWAT_HOME/analytics``).
        frame: return a pandas data frame instead of a relation.
        owner: the organization whose events are queried (default: this process's
            principal's, see :func:`~flowat_kernel.analytics.organization.caller`).
        workflows: only these workflows' runs (a key limited to some workflows; by
            default the principal's limit when ``owner`` is not given, else all).
        database_url: the store (default: ``FLOWAT_DATABASE_URL``); on PostgreSQL the
            events of every host are read.

    This process's pending events are flushed first, so they are included.

    Raises:
        FlowAtError: not one SELECT, or DuckDB refused it (syntax, unknown table or
            column, a file function).
        Forbidden: with no ``owner``, the process's principal may not read runs.

    """
    one_select(query)
    if owner is None:
        principal = caller()
        owner, workflows = principal.owner, principal.workflows
    folder = folder or analytics_folder()
    try:
        if frame:  # only data leaves: the organization's kept database serves it
            with organization_cursor(folder, owner, workflows, database_url=database_url) as cursor:
                return cursor.sql(query).df()
        # A relation can run statements on its connection: it gets a database of its own.
        events = organization_events(folder, owner, workflows, database_url=database_url)
        return sealed_connection(events).sql(query)
    except duckdb.Error as exc:
        raise query_failed(exc) from exc
