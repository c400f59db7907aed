"""The ``duckdb`` connector: SQL over step inputs and local files, in the worker.

``duckdb.query`` opens its own in-memory DuckDB connection per call, registers each of
``tables`` (rows from upstream steps, through Arrow) and each of ``files`` (a view over
``read_csv_auto``, ``read_parquet`` or ``read_json_auto``), runs the SQL and returns
JSON-safe rows. Only what the ``duckdb`` wheel carries is used (CSV, Parquet, JSON and
ICU are built in); extensions are never downloaded.

Files come from a files root the Administrator configured (``root``, default ``data``;
see the ``files`` connector), never from a folder the author names: each is opened
race-free beneath its root and handed to DuckDB as ``/proc/self/fd/N``. DuckDB may
read only those (``allowed_paths``) and nothing else: ``enable_external_access`` is off
and the configuration locked before the author's SQL runs, so ``read_csv('/etc/...')``,
``COPY ... TO``, ``ATTACH`` and the like are refused.

``duckdb`` and ``pyarrow`` are imported on the first call, so discovering connectors
stays fast.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from flowat_kernel.sdk import ActionContext, ActionError, Connector

from .sql import QueryOutput, table

if TYPE_CHECKING:
    import duckdb

__all__ = ["connector"]

log = logging.getLogger(__name__)

connector = Connector(
    id="duckdb",
    name="DuckDB",
    description="SQL over step data and CSV, Parquet or JSON files with an in-memory DuckDB",
    icon="duckdb",
)

TableName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")]

#: File name endings and the DuckDB function that reads them.
READERS = {
    ".csv": "read_csv_auto",
    ".tsv": "read_csv_auto",
    ".parquet": "read_parquet",
    ".pq": "read_parquet",
    ".json": "read_json_auto",
    ".jsonl": "read_json_auto",
    ".ndjson": "read_json_auto",
}
_COMPRESSED = (".gz", ".zst")


class Columns(BaseModel):
    """Rows with their column names, e.g. the output of ``sql.query`` or ``duckdb.query``."""

    columns: list[str] = Field(description="Column names (needed when there are no rows).")
    rows: list[dict[str, Any]] = Field(description="One object per row.")


class QueryInput(BaseModel):
    """Input of ``duckdb.query``."""

    model_config = ConfigDict(extra="forbid")

    sql: str = Field(
        min_length=1,
        description=(
            "DuckDB SQL over the tables and files by their names; values go in as "
            "parameters written $name."
        ),
    )
    tables: dict[TableName, list[dict[str, Any]] | Columns] = Field(
        default_factory=dict,
        description=(
            "Tables from step data: name -> a list of row objects (columns from their "
            "keys, types inferred per column), or {columns, rows} such as another "
            "query's output (an empty table needs its columns)."
        ),
    )
    files: dict[TableName, str] = Field(
        default_factory=dict,
        description=(
            "Tables from files: name -> path, inside the files root ``root``, of a "
            ".csv/.tsv, .parquet/.pq or .json/.jsonl/.ndjson file (optionally .gz or .zst)."
        ),
    )
    root: str | None = Field(
        default=None,
        description="the files root (FLOWAT_FILES_ROOTS) the files are in; 'data' when unset",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Values of the $name parameters in the SQL."
    )
    max_rows: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="Fail (without retrying) when the query returns more rows than this.",
    )


def _target(params: QueryInput) -> str:
    """DuckDB runs inside the worker: its one "host" is the local process."""
    return "local"


def _fail(message: str) -> ActionError:
    return ActionError(f"duckdb.query: {message}", retryable=False, host="local")


def _arrow(name: str, value: list[dict[str, Any]] | Columns) -> Any:
    """``value`` as an Arrow table: every key of any row a column, in first-seen order.

    Raises:
        ActionError: no rows and no column names, or a column mixes types.

    """
    import pyarrow as pa

    rows = value.rows if isinstance(value, Columns) else value
    names = dict.fromkeys(value.columns) if isinstance(value, Columns) else {}
    for row in rows:
        names.update(dict.fromkeys(row))
    if not names:
        raise _fail(
            f"tables[{name!r}] has no rows, so its columns are unknown; pass "
            '{"columns": [...], "rows": []} (a query\'s output has that shape)'
        )
    arrays = {}
    for column in names:
        values = [row.get(column) for row in rows]
        try:
            arrays[column] = pa.array(values) if rows else pa.array([], pa.null())
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise _fail(
                f"tables[{name!r}] column {column!r} cannot be one DuckDB type ({exc}); "
                "make its values one type (convert them in the upstream step)"
            ) from exc
    return pa.table(arrays)


def _reader(name: str, path: str) -> tuple[str, str]:
    """The DuckDB function that reads ``path``, and its compression.

    Raises:
        ActionError: an unsupported file type.

    """
    suffixes = [s.lower() for s in Path(path).suffixes]
    compression = "auto"
    if suffixes and suffixes[-1] in _COMPRESSED:
        compression = {".gz": "gzip", ".zst": "zstd"}[suffixes.pop()]
    reader = READERS.get(suffixes[-1] if suffixes else "")
    if reader is None:
        kinds = ", ".join(READERS)
        raise _fail(
            f"files[{name!r}]: {Path(path).name!r} is not a file DuckDB reads here; "
            f"use one ending in {kinds} (optionally compressed .gz or .zst)"
        )
    return reader, compression


def _source(reader: str, compression: str, fd: int) -> str:
    """The SQL that reads the open file ``fd`` (its name carries no suffix to go by)."""
    if reader == "read_parquet":
        return f"read_parquet('/proc/self/fd/{fd}')"
    return f"{reader}('/proc/self/fd/{fd}', compression = '{compression}')"


def _open(name: str, root: str | None, path: str) -> int:
    """A descriptor of ``path`` in files root ``root``, opened race-free.

    Raises:
        ActionError: no such root or file, or the path leads out of the root.

    """
    from .files import open_to_read

    try:
        fd, _ = open_to_read(root, path, f"duckdb.query: files[{name!r}]")
    except ActionError as exc:
        raise ActionError(str(exc), retryable=False, host="local") from None
    return fd


def _connect() -> duckdb.DuckDBPyConnection:
    import duckdb

    connection = duckdb.connect(
        ":memory:",
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    )
    connection.execute("SET TimeZone = 'UTC'")  # the same answers on every worker
    return connection


def _translate(exc: Exception) -> ActionError:
    """A DuckDB error as an :class:`ActionError` carrying DuckDB's own message."""
    import duckdb

    message = str(exc).strip()
    if "requires the extension" in message:
        first = message.split("\n")[0]
        return _fail(
            f"{first}; only DuckDB's built-in features are available here (CSV, Parquet, "
            "JSON, ICU): read local files, or fetch remote data in an earlier step"
        )
    if isinstance(exc, duckdb.PermissionException):
        first = message.split("\n")[0]
        return _fail(
            f"{first}; DuckDB reads only the files given in files= (paths in a configured "
            "files root, queried by their names) and writes no file: add the file there, "
            "or fetch remote data in an earlier step"
        )
    retryable = isinstance(exc, duckdb.OutOfMemoryException | duckdb.InterruptException)
    advice = "it will be retried" if retryable else "fix the SQL, its parameters or the data"
    return ActionError(
        f"duckdb.query: {type(exc).__name__}: {message}\n({advice})",
        retryable=retryable,
        host="local",
    )


@connector.action("query", input=QueryInput, output=QueryOutput, retry_safe=True, target=_target)
def query(ctx: ActionContext, params: QueryInput) -> QueryOutput:
    """Run DuckDB SQL over step data and files; return its rows (fails past max_rows)."""
    import duckdb

    # DuckDB's names are case-insensitive: "Orders" and "orders" are one table.
    clash = {n.lower() for n in params.tables} & {n.lower() for n in params.files}
    if clash:
        raise _fail(
            f"{', '.join(sorted(clash))} named in both tables and files; give each table one source"
        )
    readers = {name: _reader(name, path) for name, path in params.files.items()}
    arrow = {name: _arrow(name, rows) for name, rows in params.tables.items()}
    opened: dict[str, int] = {}
    connection = _connect()
    try:
        for name, path in params.files.items():
            opened[name] = _open(name, params.root, path)
        for name, data in arrow.items():
            connection.register(name, data)
        allowed = ", ".join(f"'/proc/self/fd/{fd}'" for fd in opened.values())
        connection.execute(f"SET allowed_paths = [{allowed}]")
        connection.execute("SET enable_external_access = false")
        connection.execute("SET lock_configuration = true")
        for name, (reader, compression) in readers.items():
            source = _source(reader, compression, opened[name])
            connection.execute(f'CREATE VIEW "{name}" AS SELECT * FROM {source}')
        if params.params:
            connection.execute(params.sql, params.params)
        else:
            connection.execute(params.sql)
        description = connection.description or []
        columns = [str(d[0]) for d in description]
        fetched = connection.fetchmany(params.max_rows + 1) if description else []
    except duckdb.Error as exc:
        raise _translate(exc) from exc
    finally:
        connection.close()
        for fd in opened.values():
            os.close(fd)
    ctx.log.debug("duckdb.query: %d tables, %d files", len(arrow), len(readers))
    return QueryOutput.model_validate(table("duckdb.query", columns, fetched, params.max_rows))
