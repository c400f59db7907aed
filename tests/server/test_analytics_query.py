"""``POST /analytics/query`` over real HTTP and real DuckDB: one organization's views only,
read-only, with row and time limits; attacks on the boundary are refused with a 4xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flowat_kernel.access import Role
from tests.server.helpers import Api, Org, new_org, publish


@pytest.fixture(scope="module")
def orgs(api_server: str) -> tuple[Org, Org]:
    return new_org("sql"), new_org("sqlother")


def _query(api: Api, sql: str, **extra: Any) -> Any:
    return api.post("/analytics/query", json={"sql": sql, **extra})


def _run(api: Api, workflow: str, n: int) -> str:
    reply = api.post(
        f"/workflows/{workflow}/runs", json={"parameters": {"n": n}, "wait_seconds": 60}
    )
    assert reply.status_code == 200 and reply.json()["status"] == "succeeded", reply.text
    run_id: str = reply.json()["run_id"]
    return run_id


def test_a_query_sees_only_its_organization(
    api_server: str, temporal: str, workflow_name: str, orgs: tuple[Org, Org]
) -> None:
    mine, theirs = orgs
    me = Api(api_server, mine.keys[Role.VIEWER])  # runs:read, as flowat analytics sql
    them = Api(api_server, theirs.keys[Role.OWNER])
    publish(workflow_name, owner=mine.slug)
    publish(workflow_name, owner=theirs.slug)
    my_runs = {_run(Api(api_server, mine.keys[Role.OWNER]), workflow_name, n) for n in (1, 2)}
    their_run = _run(them, workflow_name, 3)

    reply = _query(me, f"SELECT run_id, status FROM runs WHERE workflow = '{workflow_name}'")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["columns"] == ["run_id", "status"] and body["truncated"] is False
    assert {row[0] for row in body["rows"]} == my_runs
    assert {row[1] for row in body["rows"]} == {"succeeded"}

    owners = _query(me, "SELECT DISTINCT owner FROM events WHERE owner IS NOT NULL").json()
    assert owners["rows"] == [[mine.slug]]
    for sql in (
        f"SELECT * FROM events WHERE run_id = '{their_run}'",
        f"SELECT * FROM steps WHERE run_id = '{their_run}'",
        f"SELECT * FROM runs WHERE owner = '{theirs.slug}'",
        f"WITH raw AS (SELECT * FROM events) SELECT * FROM raw WHERE owner <> '{mine.slug}'",
        "SELECT * FROM query_table('events') WHERE owner <> current_setting('TimeZone')"
        f" AND owner <> '{mine.slug}'",
    ):
        reply = _query(me, sql)
        assert reply.status_code == 200 and reply.json()["rows"] == [], (sql, reply.text)
    theirs_seen = _query(them, f"SELECT run_id FROM runs WHERE workflow = '{workflow_name}'")
    assert [row[0] for row in theirs_seen.json()["rows"]] == [their_run]
    stats = _query(me, f"SELECT runs FROM workflow_stats WHERE workflow = '{workflow_name}'")
    assert sum(row[0] for row in stats.json()["rows"]) == 2


def test_attacks_on_the_boundary_are_refused(
    api_server: str, orgs: tuple[Org, Org], flowat_home: Path, tmp_path: Path
) -> None:
    me = Api(api_server, orgs[0].keys[Role.OWNER])
    events = sorted((flowat_home / "analytics").rglob("*.parquet"))
    some_file = str(events[0]) if events else str(flowat_home / "flowat.db")
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    target = tmp_path / "stolen.csv"
    attacks = {
        "ATTACH": f"ATTACH '{tmp_path / 'x.db'}' AS x",
        "ATTACH in a SELECT": f"SELECT 1; ATTACH '{tmp_path / 'x.db'}' AS x",
        "COPY": f"COPY (SELECT * FROM events) TO '{target}'",
        "COPY after a SELECT": f"SELECT 1; COPY (SELECT 1) TO '{target}'",
        "read_parquet": f"SELECT * FROM read_parquet('{some_file}')",
        "a path as a table": f"SELECT * FROM '{some_file}'",
        "read_csv": f"SELECT * FROM read_csv('{secret}')",
        "read_text": f"SELECT * FROM read_text('{secret}')",
        "glob": f"SELECT * FROM glob('{flowat_home}/*')",
        "a CTE over a file": f"WITH s AS (SELECT * FROM read_csv_auto('{secret}')) SELECT * FROM s",
        "a CTE over the raw spool": "WITH s AS (SELECT * FROM live_events) SELECT * FROM s",
        "ATTACH through query()": f"SELECT * FROM query('ATTACH ''{tmp_path / 'x.db'}''')",
        "COPY through query()": f"SELECT * FROM query('COPY (SELECT 1) TO ''{target}''')",
        "a URL": "SELECT * FROM read_json('http://127.0.0.1:9/events.json')",
        "PRAGMA": "PRAGMA database_list",
        "two statements": "SELECT 1; SELECT 2",
        "SET": "SET enable_external_access = true",
        "INSTALL": "INSTALL httpfs",
        "LOAD": "LOAD httpfs",
        "CREATE": "CREATE TABLE t AS SELECT 1",
        "DELETE": "DELETE FROM events",
        "EXPORT": f"EXPORT DATABASE '{tmp_path / 'dump'}'",
        "CALL": "CALL pragma_database_list()",
        "empty": "   ",
        "not SQL": "this is not SQL",
    }
    for name, sql in attacks.items():
        reply = _query(me, sql)
        assert 400 <= reply.status_code < 500, (name, reply.status_code, reply.text)
        message = reply.json()["error"]["message"]
        assert message and "hunter2" not in message, (name, message)
    assert not target.exists()
    assert not (tmp_path / "x.db").exists() and not (tmp_path / "dump").exists()
    refused = _query(me, "PRAGMA database_list").json()["error"]["message"]
    assert "only a read-only SELECT" in refused
    assert "2 statements" in _query(me, "SELECT 1; SELECT 2").json()["error"]["message"]
    assert "disabled" in _query(me, f"SELECT * FROM read_csv('{secret}')").text


def test_row_and_time_limits_and_bad_input(api_server: str, orgs: tuple[Org, Org]) -> None:
    me = Api(api_server, orgs[0].keys[Role.VIEWER])
    cut = _query(me, "SELECT * FROM range(100)", limit=10).json()
    assert cut["row_count"] == 10 and cut["truncated"] is True
    whole = _query(me, "SELECT range AS i FROM range(3)").json()
    assert whole["rows"] == [[0], [1], [2]] and whole["truncated"] is False
    endless = _query(
        me,
        "SELECT sum(hash(range)) FROM range(10000000000000)",  # endless, in constant memory
        timeout_seconds=0.5,
    )
    assert endless.status_code == 422 and "was stopped" in endless.json()["error"]["message"]
    for body in (
        {"sql": "SELECT 1", "limit": 0},
        {"sql": "SELECT 1", "limit": 10_001},
        {"sql": "SELECT 1", "timeout_seconds": 0},
        {"sql": "SELECT 1", "timeout_seconds": 61},
        {"sql": ""},
        {"query": "SELECT 1"},
        {},
    ):
        reply = me.post("/analytics/query", json=body)
        assert reply.status_code == 422 and reply.json()["error"]["message"], (body, reply.text)
    typed = _query(me, "SELECT DATE '2026-01-02' AS d, 1.5::DECIMAL(4,2) AS x, 'nan'::DOUBLE AS n")
    assert typed.json()["rows"] == [["2026-01-02", 1.5, None]]
    assert (
        Api(api_server, None).post("/analytics/query", json={"sql": "SELECT 1"}).status_code == 401
    )
