"""The ``sql`` connector's results: database values as JSON-safe rows.

:func:`json_safe` turns one database value into JSON-safe Python (the rules are those of
:class:`~flowat_connectors.sql.QueryOutput`); :func:`table` builds the ``{"columns",
"rows", "row_count"}`` output of ``sql.query`` and ``duckdb.query``, refusing a result
past ``max_rows`` or with a column name used twice.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import enum
import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from flowat_kernel.sdk import ActionError

__all__ = ["json_safe", "table"]


def _number(value: decimal.Decimal) -> int | float | str:
    if not value.is_finite():
        return "NaN" if value.is_nan() else ("-Infinity" if value.is_signed() else "Infinity")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0:
        return int(value)
    as_float = float(value)
    return as_float if decimal.Decimal(repr(as_float)) == value else str(value)


def json_safe(value: Any) -> Any:
    """``value`` (a database value) as JSON-safe Python: see :class:`QueryOutput`."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, decimal.Decimal):
        return _number(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return json_safe(value.tolist())
    return str(value)


def table(
    action: str, columns: list[str], fetched: Sequence[Sequence[Any]], max_rows: int
) -> dict[str, Any]:
    """Rows as ``{"columns", "rows", "row_count"}``; ``fetched`` may hold one row too many.

    Raises:
        ActionError: more than ``max_rows`` rows, or a column name used twice.

    """
    if len(fetched) > max_rows:
        raise ActionError(
            f"{action}: the query returned more than max_rows={max_rows} rows; add a LIMIT "
            "(or a narrower WHERE) to the SQL, or raise max_rows",
            retryable=False,
        )
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise ActionError(
                f"{action}: the result has two columns named {name!r}; give them distinct "
                "names with AS (e.g. SELECT a.id AS a_id, b.id AS b_id)",
                retryable=False,
            )
        seen.add(name)
    rows = [dict(zip(columns, (json_safe(v) for v in row), strict=True)) for row in fetched]
    return {"columns": columns, "rows": rows, "row_count": len(rows)}
