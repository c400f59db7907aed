"""The ``sql`` connector against a real SQLite file and the real PostgreSQL server."""

from __future__ import annotations

import datetime as dt
import decimal
import socket
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import flowat_kernel as flowat
from flowat_connectors.sql import QueryInput, connector, json_safe
from flowat_kernel.compiler import Cell
from flowat_kernel.sdk import ActionError
from flowat_kernel.sdk.registry import get_action
from flowat_kernel.testing import call

PASSWORD = "pw-" + uuid.uuid4().hex  # trust authentication ignores it; errors must not


def _error(action: str, **params: Any) -> ActionError:
    with pytest.raises(ActionError) as caught:
        call(connector, action, **params)
    return caught.value


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there once the socket is closed


def _with_password(url: str, password: str = PASSWORD, **changes: Any) -> str:
    parsed = sa.engine.make_url(url).set(password=password, **changes)
    return parsed.render_as_string(hide_password=False)


def _assert_no_secret(error: BaseException, *secrets: str) -> None:
    """Neither the message nor the traceback a step failure records holds a secret."""
    shown = str(error) + "".join(traceback.format_exception(error))
    for value in secrets:
        assert value not in shown


@pytest.fixture
def sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty SQLite database in the files root ``data``, a folder of the test's own."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "shop.db").touch()  # an empty file is an empty database
    monkeypatch.setenv("FLOWAT_FILES_ROOTS", f"data={tmp_path / 'data'}")
    return "sqlite:///shop.db"


@pytest.fixture
def pg_table(postgres_url: str) -> Iterator[tuple[str, str]]:
    """A table ``orders`` of its own in the session's PostgreSQL database, made with SQLAlchemy."""
    name = f"orders_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE {name} (id serial PRIMARY KEY, customer text UNIQUE, "
                "amount numeric(12, 2), placed timestamptz, day date, ref uuid, "
                "payload jsonb, raw bytea)"
            )
        )
        conn.execute(
            sa.text(
                f"INSERT INTO {name} (customer, amount, placed, day, ref, payload, raw) "
                "VALUES (:c, :a, :p, :d, :r, CAST(:j AS jsonb), :b)"
            ),
            [
                {
                    "c": "ann",
                    "a": decimal.Decimal("12.50"),
                    "p": dt.datetime(2024, 5, 1, 9, 30, tzinfo=dt.UTC),
                    "d": dt.date(2024, 5, 1),
                    "r": uuid.UUID(int=1),
                    "j": '{"vip": true}',
                    "b": b"\x00\xff",
                },
                {
                    "c": "bob",
                    "a": decimal.Decimal("7"),
                    "p": None,
                    "d": None,
                    "r": None,
                    "j": "[1, 2]",
                    "b": None,
                },
            ],
        )
    engine.dispose()
    yield postgres_url, name


# -- SQLite ---------------------------------------------------------------------------


def test_sqlite_execute_then_query_with_bound_parameters(sqlite_url: str) -> None:
    created = call(
        connector,
        "execute",
        url=sqlite_url,
        sql="CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price NUMERIC, added DATE)",
    )
    inserted = call(
        connector,
        "execute",
        url=sqlite_url,
        sql="INSERT INTO items (name, price, added) VALUES (:name, :price, :added)",
        params=[
            {"name": "tea", "price": 3.5, "added": "2024-01-02"},
            {"name": "o'reilly; DROP TABLE items", "price": 12, "added": None},
        ],
    )
    updated = call(
        connector,
        "execute",
        url=sqlite_url,
        sql="UPDATE items SET price = price + :more WHERE name = :name",
        params={"more": 1, "name": "tea"},
    )
    nothing = call(
        connector,
        "execute",
        url=sqlite_url,
        sql="INSERT INTO items (name) VALUES (:name)",
        params=[],
    )
    result = call(
        connector,
        "query",
        url=sqlite_url,
        sql="SELECT name, price FROM items WHERE price > :least ORDER BY id",
        params={"least": 0},
    )

    assert created.model_dump() == {"rowcount": -1}
    assert inserted.model_dump() == {"rowcount": 2}
    assert updated.model_dump() == {"rowcount": 1}
    assert nothing.model_dump() == {"rowcount": 0}
    assert result.model_dump() == {
        "columns": ["name", "price"],
        "rows": [
            {"name": "tea", "price": 4.5},
            {"name": "o'reilly; DROP TABLE items", "price": 12},
        ],
        "row_count": 2,
    }


def test_query_refuses_to_write_and_leaves_the_data_alone(sqlite_url: str) -> None:
    call(connector, "execute", url=sqlite_url, sql="CREATE TABLE t (x INTEGER)")
    call(connector, "execute", url=sqlite_url, sql="INSERT INTO t VALUES (1)")

    error = _error("query", url=sqlite_url, sql="DELETE FROM t")

    assert error.retryable is False
    assert "use sql.execute" in str(error)
    # The connection went back to the pool writable again.
    assert call(connector, "execute", url=sqlite_url, sql="INSERT INTO t VALUES (2)").model_dump()
    rows = call(connector, "query", url=sqlite_url, sql="SELECT x FROM t ORDER BY x")
    assert rows.model_dump()["rows"] == [{"x": 1}, {"x": 2}]


def test_max_rows_is_a_non_retryable_error_that_says_what_to_do(sqlite_url: str) -> None:
    call(connector, "execute", url=sqlite_url, sql="CREATE TABLE t (x INTEGER)")
    call(
        connector,
        "execute",
        url=sqlite_url,
        sql="INSERT INTO t VALUES (:x)",
        params=[{"x": i} for i in range(5)],
    )

    exact = call(connector, "query", url=sqlite_url, sql="SELECT x FROM t", max_rows=5)
    error = _error("query", url=sqlite_url, sql="SELECT x FROM t", max_rows=4)

    assert exact.model_dump()["row_count"] == 5
    assert error.retryable is False
    assert "more than max_rows=4 rows" in str(error)
    assert "LIMIT" in str(error) and "raise max_rows" in str(error)


@pytest.mark.parametrize(
    ("sql", "params", "expected"),
    [
        ("SELEC 1", {}, 'near "SELEC": syntax error'),
        ("SELECT * FROM missing_table", {}, "no such table: missing_table"),
        ("SELECT :x + :y", {"x": 1}, "bind parameter 'y'"),
    ],
)
def test_sqlite_sql_errors_are_not_retryable(
    sqlite_url: str, sql: str, params: dict[str, Any], expected: str
) -> None:
    error = _error("query", url=sqlite_url, sql=sql, params=params)

    assert error.retryable is False
    assert expected in str(error)


def test_duplicate_column_names_are_refused(sqlite_url: str) -> None:
    error = _error("query", url=sqlite_url, sql="SELECT 1 AS a, 2 AS a")

    assert error.retryable is False
    assert "two columns named 'a'" in str(error)


def test_constraint_violation_on_execute_is_not_retryable(sqlite_url: str) -> None:
    call(connector, "execute", url=sqlite_url, sql="CREATE TABLE t (x INTEGER UNIQUE)")
    call(connector, "execute", url=sqlite_url, sql="INSERT INTO t VALUES (1)")

    error = _error("execute", url=sqlite_url, sql="INSERT INTO t VALUES (:x)", params={"x": 1})

    assert error.retryable is False
    assert "UNIQUE constraint failed" in str(error)


def test_a_bad_url_is_refused_without_repeating_it() -> None:
    error = _error("query", url=f"not a url {PASSWORD}", sql="SELECT 1")

    assert error.retryable is False
    assert "not a SQLAlchemy database URL" in str(error)
    _assert_no_secret(error, PASSWORD)


# -- PostgreSQL -----------------------------------------------------------------------


def test_postgresql_query_with_parameters_and_json_safe_values(
    pg_table: tuple[str, str],
) -> None:
    url, name = pg_table
    plain = sa.engine.make_url(url).set(drivername="postgresql")  # maps to psycopg

    result = call(
        connector,
        "query",
        url=plain.render_as_string(hide_password=False),
        sql=f"SELECT customer, amount, placed, day, ref, payload, raw, amount * 2 AS twice "
        f"FROM {name} WHERE customer = ANY(:who) ORDER BY id",
        params={"who": ["ann", "bob"]},
    )

    assert result.model_dump() == {
        "columns": ["customer", "amount", "placed", "day", "ref", "payload", "raw", "twice"],
        "rows": [
            {
                "customer": "ann",
                "amount": 12.5,
                "placed": "2024-05-01T09:30:00+00:00",
                "day": "2024-05-01",
                "ref": "00000000-0000-0000-0000-000000000001",
                "payload": {"vip": True},
                "raw": "AP8=",
                "twice": 25.0,
            },
            {
                "customer": "bob",
                "amount": 7.0,
                "placed": None,
                "day": None,
                "ref": None,
                "payload": [1, 2],
                "raw": None,
                "twice": 14.0,
            },
        ],
        "row_count": 2,
    }


def test_postgresql_execute_commits_and_query_is_read_only(pg_table: tuple[str, str]) -> None:
    url, name = pg_table

    changed = call(
        connector,
        "execute",
        url=url,
        sql=f"UPDATE {name} SET amount = amount + :more WHERE customer = :who",
        params={"more": 1, "who": "bob"},
    )
    refused = _error("query", url=url, sql=f"DELETE FROM {name}")
    duplicate = _error(
        "execute",
        url=url,
        sql=f"INSERT INTO {name} (customer) VALUES (:who)",
        params={"who": "ann"},
    )
    left = call(connector, "query", url=url, sql=f"SELECT customer, amount FROM {name} ORDER BY id")

    assert changed.model_dump() == {"rowcount": 1}
    assert refused.retryable is False
    assert "read-only transaction" in str(refused) and "use sql.execute" in str(refused)
    assert duplicate.retryable is False
    assert "UniqueViolation" in str(duplicate)
    assert left.model_dump()["rows"] == [
        {"customer": "ann", "amount": 12.5},
        {"customer": "bob", "amount": 8.0},
    ]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELEC 1", 'syntax error at or near "SELEC"'),
        ("SELECT * FROM no_such_table", 'relation "no_such_table" does not exist'),
        ("SELECT 1 / 0", "division by zero"),
    ],
)
def test_postgresql_sql_errors_are_not_retryable(
    postgres_url: str, sql: str, expected: str
) -> None:
    error = _error("query", url=postgres_url, sql=sql)

    assert error.retryable is False
    assert expected in str(error)
    assert error.host == "127.0.0.1:5432"


def test_an_unreachable_server_is_retryable_and_keeps_the_password_out(postgres_url: str) -> None:
    port = _closed_port()
    url = _with_password(postgres_url, port=port)

    error = _error("query", url=url, sql="SELECT 1")

    assert error.retryable is True
    assert error.host == f"127.0.0.1:{port}"
    assert "Connection refused" in str(error)
    _assert_no_secret(error, PASSWORD, url)


def test_engines_are_cached_per_database(sqlite_url: str, tmp_path: Path) -> None:
    from flowat_connectors import sql

    call(connector, "execute", url=sqlite_url, sql="SELECT 1")
    key = f"sqlite:data={tmp_path / 'data'}:shop.db"
    engine = sql._engines[key]
    call(connector, "query", url=sqlite_url, sql="SELECT 2")
    call(connector, "query", url=f"sqlite:///{tmp_path / 'data' / 'shop.db'}", sql="SELECT 3")

    assert sql._engines[key] is engine


# -- secret handles -------------------------------------------------------------------


def test_a_url_in_a_secret_works_and_never_shows_in_errors(
    temporal: str, postgres_url: str, pg_table: tuple[str, str]
) -> None:
    _, table = pg_table
    good, refused, unreachable = (f"db_{uuid.uuid4().hex[:8]}" for _ in range(3))
    flowat.set_secret(good, _with_password(postgres_url))
    bad_login = _with_password(postgres_url, username=f"nobody_{uuid.uuid4().hex[:6]}")
    flowat.set_secret(refused, bad_login)
    closed = _with_password(postgres_url, port=_closed_port())
    flowat.set_secret(unreachable, closed)

    rows = call(
        connector,
        "query",
        url=flowat.secret(good),
        sql=f"SELECT customer FROM {table} WHERE amount > :least ORDER BY id",
        params={"least": 10},
    )
    login = _error("query", url=flowat.secret(refused), sql="SELECT 1")
    down = _error("execute", url=flowat.secret(unreachable), sql="SELECT 1")

    assert rows.model_dump()["rows"] == [{"customer": "ann"}]
    assert login.retryable is False
    assert "refused the login" in str(login) and f"flowat.secret({refused!r})" in str(login)
    assert down.retryable is True  # nothing was committed: even execute may retry
    _assert_no_secret(login, PASSWORD, bad_login)
    _assert_no_secret(down, PASSWORD, closed)


def test_the_breaker_target_is_the_database_host(temporal: str, sqlite_url: str) -> None:
    name = f"db_{uuid.uuid4().hex[:8]}"
    flowat.set_secret(name, f"postgresql://u:{PASSWORD}@db.example:6543/app")
    target = connector.actions["query"].target
    assert target is not None

    assert target(QueryInput(url=flowat.secret(name), sql="SELECT 1")) == "db.example:6543"
    assert target(QueryInput(url="postgresql://h/db", sql="SELECT 1")) == "h"
    assert target(QueryInput(url=sqlite_url, sql="SELECT 1")) == "sqlite:shop.db"
    assert target(QueryInput(url=flowat.secret("no_such_secret"), sql="SELECT 1")) is None


def test_a_missing_secret_is_not_retryable(temporal: str) -> None:
    error = _error("query", url=flowat.secret("never_set_anywhere"), sql="SELECT 1")

    assert error.retryable is False
    assert "never_set_anywhere" in str(error)


def test_a_failing_sql_step_keeps_the_secret_out_of_the_run_record(
    temporal: str, workflow_name: str, postgres_url: str
) -> None:
    name = f"db_{uuid.uuid4().hex[:8]}"
    url = _with_password(postgres_url, username=f"nobody_{uuid.uuid4().hex[:6]}")
    flowat.set_secret(name, url)
    flowat.publish(
        workflow_name,
        cells=[
            Cell(
                "%%flowat step q --action sql.query\n"
                f"url = flowat.secret({name!r})\n"
                "sql = 'SELECT 1'",
                1,
            )
        ],
    )

    run = flowat.run(workflow_name)

    assert run.status == "failed"
    (step,) = run.record.steps
    recorded = str(step.model_dump())
    assert "refused the login" in recorded
    assert PASSWORD not in recorded and url not in recorded


# -- the declaration ------------------------------------------------------------------


def test_the_connector_is_installed_and_describes_itself() -> None:
    query = get_action("sql.query")
    described = connector.describe()

    assert query.function is connector.actions["query"].function
    assert {a["name"]: a["retry_safe"] for a in described["actions"]} == {
        "sql.query": True,
        "sql.execute": False,
    }
    url_schema = described["actions"][0]["input"]["properties"]["url"]
    assert {"type": "string"} in url_schema["anyOf"]
    assert any("$secret" in branch.get("properties", {}) for branch in url_schema["anyOf"])
    assert all(
        "description" in field for field in described["actions"][0]["input"]["properties"].values()
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (decimal.Decimal("12.50"), 12.5),
        (decimal.Decimal("42"), 42),
        (decimal.Decimal("1E+3"), 1000),
        (decimal.Decimal("0.1234567890123456789"), "0.1234567890123456789"),
        (decimal.Decimal("NaN"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"),
        (dt.date(2024, 1, 2), "2024-01-02"),
        (dt.time(3, 4), "03:04:00"),
        (dt.timedelta(minutes=1, seconds=30), 90.0),
        (b"hi", "aGk="),
        (memoryview(b"hi"), "aGk="),
        (uuid.UUID(int=255), "00000000-0000-0000-0000-0000000000ff"),
        ({"a": [decimal.Decimal("1.5"), None]}, {"a": [1.5, None]}),
        ((1, "x"), [1, "x"]),
        (True, True),
    ],
)
def test_values_become_json_safe(value: object, expected: object) -> None:
    assert json_safe(value) == expected
