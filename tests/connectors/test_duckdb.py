"""The ``duckdb`` connector: SQL over step data and real CSV, Parquet and JSON files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import flowat_kernel as flowat
from flowat_connectors.duckdb_sql import connector
from flowat_kernel.compiler import Cell
from flowat_kernel.sdk import ActionError
from flowat_kernel.sdk.registry import get_action
from flowat_kernel.testing import call

CUSTOMERS = [
    {"id": 1, "name": "Ann", "tier": "gold"},
    {"id": 2, "name": "Bob"},  # no tier: NULL
    {"id": 3, "name": "Cy", "tier": "silver", "since": "2021"},  # a key the others lack
]


def _rows(**params: Any) -> list[dict[str, Any]]:
    result = call(connector, "query", **params).model_dump()
    assert result["row_count"] == len(result["rows"])
    rows: list[dict[str, Any]] = result["rows"]
    return rows


def _error(**params: Any) -> ActionError:
    with pytest.raises(ActionError) as caught:
        call(connector, "query", **params)
    return caught.value


@pytest.fixture(autouse=True)
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's folder is the files root ``data``."""
    monkeypatch.setenv("FLOWAT_FILES_ROOTS", f"data={tmp_path}")
    return tmp_path


@pytest.fixture
def orders_files(tmp_path: Path) -> dict[str, str]:
    """The same orders as CSV, Parquet (written with pyarrow) and JSON lines, by path."""
    csv = tmp_path / "orders.csv"
    csv.write_text("order_id,customer_id,amount\n10,1,12.5\n11,1,7.5\n12,3,20.0\n")
    parquet = tmp_path / "orders.parquet"
    pq.write_table(
        pa.table({"order_id": [10, 11, 12], "customer_id": [1, 1, 3], "amount": [12.5, 7.5, 20.0]}),
        parquet,
    )
    jsonl = tmp_path / "orders.jsonl"
    jsonl.write_text(
        "\n".join(
            json.dumps({"order_id": o, "customer_id": c, "amount": a})
            for o, c, a in [(10, 1, 12.5), (11, 1, 7.5), (12, 3, 20.0)]
        )
    )
    return {"csv": csv.name, "parquet": parquet.name, "json": jsonl.name}


def test_tables_from_rows_take_every_key_and_bind_parameters() -> None:
    rows = _rows(
        sql="SELECT id, name, tier, since FROM customers WHERE id >= $first ORDER BY id",
        tables={"customers": CUSTOMERS},
        params={"first": 2},
    )

    assert rows == [
        {"id": 2, "name": "Bob", "tier": None, "since": None},
        {"id": 3, "name": "Cy", "tier": "silver", "since": "2021"},
    ]


@pytest.mark.parametrize("kind", ["csv", "parquet", "json"])
def test_a_table_joins_a_file(kind: str, orders_files: dict[str, str]) -> None:
    rows = _rows(
        sql="SELECT c.name, count(*) AS orders, sum(o.amount) AS total "
        "FROM customers c JOIN orders o ON o.customer_id = c.id "
        "GROUP BY c.name ORDER BY c.name",
        tables={"customers": CUSTOMERS},
        files={"orders": orders_files[kind]},
    )

    assert rows == [
        {"name": "Ann", "orders": 2, "total": 20.0},
        {"name": "Cy", "orders": 1, "total": 20.0},
    ]


def test_files_of_each_kind_together_and_compressed(
    orders_files: dict[str, str], tmp_path: Path
) -> None:
    packed = tmp_path / "more.csv.gz"
    packed.write_bytes(gzip.compress(b"order_id,customer_id,amount\n13,2,1.0\n"))

    rows = _rows(
        sql="SELECT (SELECT count(*) FROM a) AS a, (SELECT count(*) FROM b) AS b, "
        "(SELECT count(*) FROM c) AS c, (SELECT sum(amount) FROM d) AS d",
        files={"a": orders_files["csv"], "b": orders_files["parquet"], "c": orders_files["json"]}
        | {"d": packed.name},
    )

    assert rows == [{"a": 3, "b": 3, "c": 3, "d": 1.0}]


def test_values_come_back_json_safe() -> None:
    rows = _rows(
        sql="SELECT DATE '2024-02-29' AS day, TIMESTAMP '2024-02-29 08:00:00' AS at, "
        "TIMESTAMPTZ '2024-02-29 08:00:00+02' AS at_tz, 12.50::DECIMAL(10, 2) AS price, "
        "INTERVAL 90 SECOND AS wait, 'hi'::BLOB AS raw, {'k': [1, 2]} AS nested, "
        "'00000000-0000-0000-0000-000000000001'::UUID AS ref, 'NaN'::DOUBLE AS nan"
    )

    assert rows == [
        {
            "day": "2024-02-29",
            "at": "2024-02-29T08:00:00",
            "at_tz": "2024-02-29T06:00:00+00:00",
            "price": 12.5,
            "wait": 90.0,
            "raw": "aGk=",
            "nested": {"k": [1, 2]},
            "ref": "00000000-0000-0000-0000-000000000001",
            "nan": "NaN",
        }
    ]


def test_another_query_output_is_a_table_even_when_empty() -> None:
    first = call(connector, "query", sql="SELECT 1 AS x WHERE false").model_dump()

    rows = _rows(sql="SELECT count(*) AS n FROM previous", tables={"previous": first})

    assert first == {"columns": ["x"], "rows": [], "row_count": 0}
    assert rows == [{"n": 0}]


def test_max_rows() -> None:
    assert len(_rows(sql="SELECT * FROM range(5)", max_rows=5)) == 5
    error = _error(sql="SELECT * FROM range(5)", max_rows=4)

    assert error.retryable is False
    assert "more than max_rows=4" in str(error) and "LIMIT" in str(error)


@pytest.mark.parametrize(
    ("sql", "kind", "expected"),
    [
        ("SELEC 1", "ParserException", 'syntax error at or near "SELEC"'),
        ("SELECT nope FROM customers", "BinderException", 'column "nope" not found'),
        ("SELECT * FROM missing", "CatalogException", "Table with name missing does not exist"),
        ("SELECT 'x'::INTEGER", "ConversionException", "Could not convert string 'x'"),
    ],
)
def test_duckdb_errors_carry_its_message_and_are_not_retryable(
    sql: str, kind: str, expected: str
) -> None:
    error = _error(sql=sql, tables={"customers": CUSTOMERS})

    assert error.retryable is False
    assert kind in str(error) and expected in str(error)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"files": {"f": "missing.csv"}}, "files['f']: "),
        ({"files": {"f": "book.xlsx"}}, "'book.xlsx' is not a file DuckDB reads here"),
        ({"tables": {"t": []}}, "tables['t'] has no rows, so its columns are unknown"),
        ({"tables": {"t": [{"x": 1}, {"x": "one"}]}}, "tables['t'] column 'x' cannot be one"),
        ({"tables": {"t": [{"x": 1}]}, "files": {"T": "t.csv"}}, "t named in both"),
        ({"tables": {"no-dash": [{"x": 1}]}}, "invalid input: tables.no-dash"),
        ({"sql": "SELECT * FROM 's3://bucket/key.parquet'"}, "reads only the files given"),
        ({"sql": "SELECT 1 AS a, 2 AS a"}, "two columns named 'a'"),
    ],
)
def test_bad_inputs_are_refused_clearly(
    params: dict[str, Any], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "book.xlsx").write_bytes(b"not really")
    (tmp_path / "t.csv").write_text("x\n1\n")

    error = _error(**{"sql": "SELECT 1"} | params)

    assert error.retryable is False
    assert expected in str(error)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"files": {"f": "/etc/passwd.csv"}}, "is absolute"),
        ({"files": {"f": "../outside.csv"}}, "contains '..'"),
        ({"files": {"f": "link.csv"}}, "symbolic link"),
        ({"files": {"f": "t.csv"}, "root": "/"}, "root '/' is not a configured files root"),
        ({"sql": "SELECT * FROM read_csv('{outside}')"}, "reads only the files given"),
        ({"sql": "SELECT * FROM read_text('{outside}')"}, "reads only the files given"),
        ({"sql": "SELECT * FROM read_csv('/proc/self/fd/../../..{outside}')"}, "reads only"),
        ({"sql": "COPY (SELECT 1) TO '{written}'"}, "reads only the files given"),
        ({"sql": "ATTACH '{written}' AS other"}, "reads only the files given"),
        ({"sql": "SET enable_external_access = true"}, "Cannot change configuration"),
    ],
)
def test_files_outside_the_root_are_out_of_reach(
    params: dict[str, Any], expected: str, tmp_path: Path
) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside.csv"
    outside.write_text("secret\nSECRET\n")
    written = tmp_path.parent / f"{tmp_path.name}-written"
    (tmp_path / "t.csv").write_text("x\n1\n")
    (tmp_path / "link.csv").symlink_to(outside)
    sql = params.pop("sql", "SELECT * FROM f").format(outside=outside, written=written)

    error = _error(sql=sql, files={"f": "t.csv"} | params.pop("files", {}), **params)

    assert error.retryable is False
    assert expected in str(error)
    assert "SECRET" not in str(error)
    assert not written.exists()


def test_the_connector_is_installed_and_describes_itself() -> None:
    described = connector.describe()
    (action,) = described["actions"]

    assert get_action("duckdb.query").function is connector.actions["query"].function
    assert action["retry_safe"] is True
    assert connector.actions["query"].target is not None
    assert all("description" in field for field in action["input"]["properties"].values())


def test_a_workflow_step_queries_an_upstream_steps_rows(temporal: str, workflow_name: str) -> None:
    flowat.publish(
        workflow_name,
        cells=[
            Cell(
                "%%flowat step load\n"
                "rows = [{'city': 'Oslo', 'temp': 3}, {'city': 'Rome', 'temp': 18},\n"
                "        {'city': 'Lima', 'temp': 21}]",
                1,
            ),
            Cell(
                "%%flowat step q --action duckdb.query\n"
                "sql = 'SELECT city, temp * 9 / 5 + 32 AS fahrenheit FROM t "
                "WHERE temp > 10 ORDER BY city'\n"
                "tables = {'t': rows}",
                2,
            ),
        ],
    )

    run = flowat.run(workflow_name)

    assert run.status == "succeeded", run.record
    assert run.outputs["q"]["q"]["rows"] == [
        {"city": "Lima", "fahrenheit": 69.8},
        {"city": "Rome", "fahrenheit": 64.4},
    ]
    assert run.outputs["q"]["q"]["row_count"] == 2
