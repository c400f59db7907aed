"""``flowat analytics sql "QUERY"`` and ``flowat analytics compact``."""

from __future__ import annotations

import argparse
import json
import math
from datetime import date, datetime
from typing import Any

from flowat_kernel.cli.output import action_group, print_json, table

__all__ = ["add_analytics_parser"]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _sql(args: argparse.Namespace) -> int:
    import duckdb

    from flowat_kernel.analytics.views import query_failed, sql

    relation = sql(args.query)
    columns = relation.columns
    try:
        rows = relation.fetchall()
    except duckdb.Error as exc:  # raised while running, e.g. a failed conversion
        raise query_failed(exc) from exc
    if args.json:
        print_json([{c: _plain(v) for c, v in zip(columns, row, strict=True)} for row in rows])
    else:
        print(
            table(
                columns,
                [
                    [
                        json.dumps(_plain(v)) if isinstance(v, list | dict) else _plain(v)
                        for v in row
                    ]
                    for row in rows
                ],
            )
        )
    return 0


def _compact(args: argparse.Namespace) -> int:
    from flowat_kernel.analytics.retention import compact

    report = compact(retention_days=args.retention_days)
    if args.json:
        print_json(report.as_dict())
    else:
        print(
            f"compacted {report.days_compacted} days ({report.files_before} files -> "
            f"{report.files_after}), expired {report.days_expired} days"
        )
    return 0


def add_analytics_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``flowat analytics`` and its actions to the top-level parser."""
    action = action_group(
        sub,
        "analytics",
        "SQL over every run and step (DuckDB views), and retention",
        "Query the analytics views (runs, steps, workflow_stats, step_stats, "
        "connector_health, llm_usage, dlq, schedule_lateness) and manage retention.",
    )
    action("sql", _sql, "run a SQL query over the analytics views").add_argument("query")
    p = action("compact", _compact, "merge small event files; expire old days")
    p.add_argument("--retention-days", type=int, help="keep this many days (default: all)")
