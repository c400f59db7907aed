"""``flowat analytics sql "QUERY"`` and ``flowat analytics compact``."""

from __future__ import annotations

import argparse
import json
import math
from datetime import date, datetime
from typing import Any

from flowat_kernel.cli.output import print_json, table

__all__ = ["cmd_compact", "cmd_sql"]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def cmd_sql(args: argparse.Namespace) -> int:
    """``flowat analytics sql "QUERY"``: rows as a table or JSON objects.

    Over the caller's organization's events only (``FLOWAT_API_KEY``'s member, else the
    local user), as every analytics query.
    """
    import duckdb

    from flowat_kernel.analytics.views import query_failed
    from flowat_kernel.api import default_workspace

    relation = default_workspace().analytics_sql(args.query)
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


def cmd_compact(args: argparse.Namespace) -> int:
    """``flowat analytics compact [--retention-days N]``."""
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
