"""The ``sql`` connector: read with ``sql.query``, change data with ``sql.execute``.

Any database SQLAlchemy can reach; SQLite and PostgreSQL (through psycopg, which
``postgresql://`` URLs map to) are tested. Values are always bound parameters
(``:name`` in the SQL), never formatted into it. A SQLite database is a file inside a
files root the Administrator configured (``root``, default ``data``), and its SQL cannot
reach any other file (:mod:`.sqlite_files`).

- ``query`` runs in a transaction that is rolled back, read-only where the database can
  enforce it (PostgreSQL ``SET TRANSACTION READ ONLY``, SQLite ``PRAGMA query_only``),
  so repeating it is harmless.
- ``execute`` commits; it is retried only when the error proves nothing was committed.

Engines are cached per URL in this process with a small pool (and disposed at exit).
The URL, which may hold a password, never appears in an error or a log line: errors
name the secret or render the URL with its password hidden.

Egress: a database server's host passes FlowAt's egress policy
(:mod:`flowat_kernel.sdk.egress`). Under ``public`` the connection goes to the checked
address (PostgreSQL: ``hostaddr``, so TLS still verifies the host name), and URLs that
choose the host some other way (``?host=``, ``?hostaddr=``, ``?service=``, a Unix
socket) are refused. Internal databases are reached when an Administrator allows them
(``FLOWAT_EGRESS_ALLOW``) or sets ``FLOWAT_EGRESS=open``.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from flowat_kernel.errors import FlowAtError
from flowat_kernel.sdk import ActionContext, ActionError, Connector
from flowat_kernel.sdk.connector import AuthField
from flowat_kernel.vault.handles import SecretHandle

from . import sqlite_files
from .sql_engines import _dispose_all as _dispose_all
from .sql_engines import _engine, _host, _parse
from .sql_engines import _engines as _engines
from .sql_errors import _describe, _failure
from .sql_results import json_safe, table

__all__ = ["connector", "json_safe", "table"]

log = logging.getLogger(__name__)

connector = Connector(
    id="sql",
    name="SQL",
    description="Query and change SQL databases (SQLite, PostgreSQL, ...) through SQLAlchemy",
    icon="database",
    auth=(
        AuthField(
            "url",
            "the database URL, which holds its password: pass flowat.secret(NAME)",
        ),
    ),
)


_URL_HELP = (
    "A SQLAlchemy database URL, best as flowat.secret(NAME) since URLs hold passwords: "
    "postgresql://user:password@host:5432/db (psycopg), or sqlite:///path/in/root.db for "
    "a SQLite file in the files root `root`."
)
_ROOT_HELP = "For SQLite: the files root (FLOWAT_FILES_ROOTS) of the database; 'data' if unset."
_SQL_HELP = (
    "One SQL statement; values go in as bound parameters written :name "
    "(a literal colon followed by a word is written \\:word)."
)


class QueryInput(BaseModel):
    """Input of ``sql.query``."""

    model_config = ConfigDict(extra="forbid")

    url: SecretHandle | str = Field(description=_URL_HELP)
    root: str | None = Field(default=None, description=_ROOT_HELP)
    sql: str = Field(min_length=1, description=_SQL_HELP + " It should read, not write.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Values of the :name parameters in the SQL."
    )
    max_rows: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="Fail (without retrying) when the query returns more rows than this.",
    )


class QueryOutput(BaseModel):
    """Output of ``sql.query`` (and ``duckdb.query``)."""

    columns: list[str] = Field(description="Column names, in the query's order.")
    rows: list[dict[str, Any]] = Field(
        description=(
            "One object per row, JSON-safe: dates and times as ISO 8601 strings, "
            "intervals as seconds, decimals as numbers (as strings when a float would "
            "lose digits), bytes as base64, UUIDs as strings, NaN/Infinity as strings."
        )
    )
    row_count: int = Field(description="How many rows there are.")


class ExecuteInput(BaseModel):
    """Input of ``sql.execute``."""

    model_config = ConfigDict(extra="forbid")

    url: SecretHandle | str = Field(description=_URL_HELP)
    root: str | None = Field(default=None, description=_ROOT_HELP)
    sql: str = Field(min_length=1, description=_SQL_HELP)
    params: dict[str, Any] | list[dict[str, Any]] = Field(
        default_factory=dict,
        description=(
            "Values of the :name parameters; a list of such objects runs the statement "
            "once per object (e.g. an INSERT per row), in one transaction."
        ),
    )


class ExecuteOutput(BaseModel):
    """Output of ``sql.execute``."""

    rowcount: int = Field(
        description="Rows the statement changed, as the driver reports it (-1: unknown)."
    )


# -- the database a call names --------------------------------------------------------


def _target(params: QueryInput | ExecuteInput) -> str | None:
    try:
        value = params.url.reveal() if isinstance(params.url, SecretHandle) else params.url
        return _host(_parse(value))
    except Exception:  # the call itself reports a missing secret or a bad URL
        return None


_warned: set[str] = set()


def _resolve(ctx: ActionContext, value: SecretHandle | str) -> tuple[str, URL]:
    try:
        raw = ctx.reveal(value)
    except FlowAtError as exc:  # e.g. no such secret: retrying cannot help
        raise ActionError(f"{ctx.connector}.{ctx.action}: {exc}", retryable=False) from exc
    url = _parse(raw, f"{ctx.connector}.{ctx.action}")
    if isinstance(value, str) and url.password and _host(url) not in _warned:
        _warned.add(_host(url))
        log.warning(
            "%s.%s: the database URL holds a password in plain text; store it with "
            "`flowat secret set` and pass flowat.secret(NAME)",
            ctx.connector,
            ctx.action,
        )
    return raw, url


# -- actions --------------------------------------------------------------------------


def _read_only(conn: Connection, on: bool) -> None:
    backend = conn.engine.url.get_backend_name()
    if backend == "postgresql" and on:
        conn.execute(text("SET TRANSACTION READ ONLY"))
    elif backend == "sqlite":
        conn.execute(text(f"PRAGMA query_only = {'ON' if on else 'OFF'}"))


def _release(conn: Connection) -> None:
    """Undo whatever the query did and make the connection writable again for the pool."""
    try:
        conn.rollback()
        if conn.engine.url.get_backend_name() == "sqlite":
            _read_only(conn, False)
            conn.commit()
    except SQLAlchemyError:
        # Never hand a broken or still read-only connection back to the pool; the
        # query's own error, if any, is the one to report.
        conn.invalidate()


@connector.action("query", input=QueryInput, output=QueryOutput, retry_safe=True, target=_target)
def query(ctx: ActionContext, params: QueryInput) -> QueryOutput:
    """Run a query and return its rows (read-only; fails past max_rows)."""
    raw, url = _resolve(ctx, params.url)
    where = _describe(params.url, url)
    engine = _engine(url, "sql.query", params.root)
    connecting = True
    try:
        with engine.connect() as conn:
            connecting = False
            try:
                _read_only(conn, True)
                result = conn.execute(text(params.sql), params.params)
                columns = list(result.keys()) if result.returns_rows else []
                fetched = result.fetchmany(params.max_rows + 1) if result.returns_rows else []
            finally:
                _release(conn)
    except SQLAlchemyError as exc:
        raise _failure("sql.query", exc, url, raw, where, connecting) from exc
    ctx.log.debug("sql.query on %s: %d rows", _host(url), min(len(fetched), params.max_rows))
    return QueryOutput.model_validate(table("sql.query", columns, fetched, params.max_rows))


@connector.action(
    "execute", input=ExecuteInput, output=ExecuteOutput, retry_safe=False, target=_target
)
def execute(ctx: ActionContext, params: ExecuteInput) -> ExecuteOutput:
    """Run a statement that changes data (INSERT, UPDATE, DELETE, DDL) and commit it."""
    if params.params == []:  # once per object of an empty list: nothing to do
        return ExecuteOutput(rowcount=0)
    raw, url = _resolve(ctx, params.url)
    where = _describe(params.url, url)
    phase: Literal["connect", "statement", "commit"] = "connect"
    try:
        with sqlite_files.creating():  # a SQLite database file is created if missing
            engine = _engine(url, "sql.execute", params.root)
            conn = engine.connect()
        with conn:
            phase = "statement"
            result = conn.execute(text(params.sql), params.params)
            rowcount = result.rowcount
            phase = "commit"
            conn.commit()
    except SQLAlchemyError as exc:
        error = _failure("sql.execute", exc, url, raw, where, phase == "connect")
        if phase == "commit" and error.retryable:
            # The COMMIT may have reached the database: repeating could apply it twice.
            error = ActionError(
                f"{error}; the connection failed while committing, so the statement may "
                "or may not have taken effect: check the data before running it again",
                retryable=False,
                host=error.host,
            )
        raise error from exc
    ctx.log.debug("sql.execute on %s: %d rows", _host(url), rowcount)
    return ExecuteOutput(rowcount=rowcount)
