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

import atexit
import base64
import datetime as dt
import decimal
import enum
import logging
import math
import sqlite3
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from flowat_kernel.errors import FlowAtError
from flowat_kernel.sdk import ActionContext, ActionError, Connector
from flowat_kernel.sdk.connector import AuthField
from flowat_kernel.sdk.egress import destination, policy
from flowat_kernel.vault.handles import SecretHandle

from . import sqlite_files

__all__ = ["connector", "json_safe"]

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


# -- URLs and engines -----------------------------------------------------------------


def _parse(value: str, action: str = "sql") -> URL:
    """``value`` as a URL; ``postgresql://`` and ``postgres://`` mean psycopg.

    Raises:
        ActionError: not a URL (the message never repeats it).

    """
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise ActionError(
            f"{action}: url is not a SQLAlchemy database URL; use e.g. postgresql://user@host/db "
            "or sqlite:///path/in/root.db",
            retryable=False,
        ) from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def _host(url: URL) -> str:
    """What the circuit breaker is keyed on: ``host:port``, or the SQLite file."""
    if url.get_backend_name() == "sqlite":
        return f"sqlite:{url.database or ':memory:'}"[:255]
    port = f":{url.port}" if url.port else ""
    return f"{url.host or 'localhost'}{port}"


def _target(params: QueryInput | ExecuteInput) -> str | None:
    try:
        value = params.url.reveal() if isinstance(params.url, SecretHandle) else params.url
        return _host(_parse(value))
    except Exception:  # the call itself reports a missing secret or a bad URL
        return None


_MAX_ENGINES = 16
_engines: OrderedDict[str, Engine] = OrderedDict()
_engines_lock = threading.Lock()


_HOST_CHOOSERS = ("host", "hostaddr", "service")


def _pin(url: URL, action: str) -> tuple[URL, dict[str, Any]]:
    """``url`` and extra connect arguments that make it reach only a checked address.

    Raises:
        ActionError: the egress policy refuses the host, or the URL picks its host in a
            way the policy cannot check.

    """
    if url.get_backend_name() == "sqlite" or policy() == "open":
        return url, {}
    choosers = sorted(set(_HOST_CHOOSERS) & set(url.query))
    if choosers or not url.host or url.host.startswith("/"):
        raise ActionError(
            f"{action}: under the egress policy 'public' the database URL must name its "
            f"host in the URL itself (postgresql://user@host:5432/db), not through "
            f"{', '.join(f'?{c}=' for c in choosers) or 'a Unix socket or the default host'}",
            retryable=False,
        )
    address = destination(url.host, url.port or 0, f"{action} to {_host(url)}")
    if address == url.host:
        return url, {}
    if url.get_backend_name() == "postgresql":
        return url, {"hostaddr": address}  # libpq connects there, TLS checks url.host
    return url.set(host=address), {}


def _create(url: URL, pinned: dict[str, Any]) -> Engine:
    # hide_parameters: SQLAlchemy's messages must not carry values that may be secret.
    connect_args: dict[str, Any] = dict(pinned)
    if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = 10
    return create_engine(
        url,
        hide_parameters=True,
        connect_args=connect_args,
        pool_size=2,
        max_overflow=3,
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_timeout=30,
    )


def _engine(url: URL, action: str, root: str | None = None) -> Engine:
    """The cached engine for ``url`` (the least recently used one beyond 16 is disposed).

    Raises:
        ActionError: the dialect or its driver is not installed, or a SQLite URL names
            a file outside the files roots.

    """
    if url.get_backend_name() == "sqlite":
        database = sqlite_files.locate(url, root, action)
        key = database.key if database else "sqlite://"
        create: Callable[[], Engine] = sqlite_files.memory_engine
        if database is not None:
            create = partial(sqlite_files.engine, database, action, pool_size=2, max_overflow=3)
    else:
        url, pinned = _pin(url, action)
        key = url.render_as_string(hide_password=False) + (f"@{pinned}" if pinned else "")
        create = partial(_create, url, pinned)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is not None:
            _engines.move_to_end(key)
            return engine
        try:
            engine = create()
        except (ArgumentError, ImportError) as exc:
            raise ActionError(
                f"{action}: cannot use a {url.drivername!r} database URL: {type(exc).__name__}: "
                f"{_scrub(str(exc), url, key)}; install its driver or use a supported URL",
                retryable=False,
            ) from None
        _engines[key] = engine
        while len(_engines) > _MAX_ENGINES:
            _engines.popitem(last=False)[1].dispose()
    return engine


@atexit.register
def _dispose_all() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


# -- errors ---------------------------------------------------------------------------


def _scrub(message: str, url: URL, raw: str) -> str:
    """``message`` without the URL or its password, whatever the driver put in it."""
    password = url.password
    if not password:
        return message
    for value in (raw, url.render_as_string(hide_password=False)):
        message = message.replace(value, "[url]")
    if len(password) >= 4:  # shorter ones would garble the message; masking skips them too
        message = message.replace(password, "***")
    return message


_LOGIN_PROBLEMS = (
    "password authentication failed",
    "authentication failed",
    "no pg_hba.conf entry",
    "does not exist",  # the role or the database
    "access denied",
)


def _driver_message(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    message = str(orig if orig is not None else exc)
    return message.split(" (Background on this error at:")[0].strip()


def _sqlstate(exc: SQLAlchemyError) -> str:
    return str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")


def _classify(exc: SQLAlchemyError, connecting: bool) -> tuple[bool, str]:
    """Whether retrying may help, and what to tell the user to do."""
    orig = getattr(exc, "orig", None)
    message = _driver_message(exc).lower()
    if isinstance(orig, sqlite3.Error):
        return sqlite_files.classify(orig)
    if _sqlstate(exc) == "25006":
        return False, "query only reads; use sql.execute for statements that change data"
    if isinstance(exc, PoolTimeout | DisconnectionError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        return True, "the connection failed; it will be retried"
    if isinstance(exc, OperationalError):
        if connecting and any(problem in message for problem in _LOGIN_PROBLEMS):
            return False, "the database refused the login: check the user, password and database"
        if _sqlstate(exc).startswith("54"):
            return False, "the statement exceeds a database limit; simplify it"
        return True, "the database could not be reached or is overloaded; it will be retried"
    if isinstance(exc, IntegrityError):
        return False, "the data violates a constraint; fix the values or the statement"
    if "bind parameter" in message:
        return False, (
            "give every :name of the SQL a value in params "
            "(a literal colon before a word is written \\:word)"
        )
    return False, "fix the SQL or its parameters"


def _failure(
    action: str, exc: SQLAlchemyError, url: URL, raw: str, where: str, connecting: bool
) -> ActionError:
    retryable, advice = _classify(exc, connecting)
    kind = type(getattr(exc, "orig", None) or exc).__name__
    problem = "cannot connect to" if connecting else "failed on"
    message = f"{action} {problem} {where}; {advice}. {kind}: {_driver_message(exc)}"
    return ActionError(_scrub(message, url, raw), retryable=retryable, host=_host(url))


def _describe(handle: SecretHandle | str, url: URL) -> str:
    """How errors name the database: by its secret, or by the URL without its password."""
    if isinstance(handle, SecretHandle):
        return f"the database of {handle!r} ({_host(url)})"
    return url.render_as_string(hide_password=True)


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


# -- results --------------------------------------------------------------------------


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
