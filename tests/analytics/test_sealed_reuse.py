"""Sealed databases kept and reused across queries, on the real PostgreSQL at 127.0.0.1:5432.

With shared events, one sealed DuckDB database per organization (and key's workflows)
and snapshot serves every query through a fresh cursor. These tests pin what the reuse
must not weaken: it is one organization's database only, a query cannot reconfigure it
or leave anything (temporary table, macro, variable, view) that a later query of the
same or another organization sees, a stopped query does not poison it, and new events
give a new one. Real DuckDB, real PostgreSQL; nothing faked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from flowat_kernel.analytics import organization
from flowat_kernel.analytics.events import event
from flowat_kernel.analytics.organization import organization_cursor
from flowat_kernel.analytics.query import sql
from flowat_kernel.analytics.scoped import query_organization
from flowat_kernel.analytics.sealed import EVENTS_TABLE, SealedDatabase, one_select
from flowat_kernel.analytics.shared_store import shared_events
from flowat_kernel.analytics.views import VIEWS
from flowat_kernel.analytics.writer import EventWriter
from flowat_kernel.errors import FlowAtError

A, B = "org-alpha", "org-beta"


@dataclass
class Shared:
    folder: Path
    url: str

    def emit(self, owner: str, run: str, workflow: str = "wf") -> None:
        writer = EventWriter(self.folder, flush_seconds=3600, database_url=self.url)
        common = {"run_id": run, "owner": owner, "workflow": workflow, "version": 1}
        ts = datetime.now(UTC)
        writer.emit_many(
            [
                event("run_started", ts=ts, **common),
                event("step_succeeded", ts=ts, step="load", duration_ms=3.0, **common),
                event("run_finished", ts=ts, status="succeeded", duration_ms=4.0, **common),
            ]
        )
        writer.close()

    def query(self, owner: str, query: str, **extra: Any) -> list[list[Any]]:
        return query_organization(self.folder, owner, query, database_url=self.url, **extra).rows

    def database(self, owner: str, workflows: tuple[str, ...] | None = None) -> SealedDatabase:
        """The kept database the REST path (one thread) uses for ``owner`` now."""
        with organization_cursor(self.folder, owner, workflows, database_url=self.url, threads=1):
            pass
        store = shared_events(self.url)
        assert store is not None
        now = store.snapshot()
        [entry] = [
            e
            for e in organization._filtered
            if e.shared is store
            and e.snapshot is now
            and (e.owner, e.workflows) == (owner, workflows)
        ]
        return entry.databases[1]


@pytest.fixture
def shared(tmp_path: Path, new_postgres_database: Callable[[str], str]) -> Shared:
    url = new_postgres_database("flowat_sealed")
    made = Shared(tmp_path / "analytics", url)
    made.emit(A, "alpha-run-1", "alpha_wf")
    made.emit(A, "alpha-run-2", "other_wf")
    made.emit(B, "beta-run-1", "beta_wf")
    return made


def _runs(shared: Shared, owner: str, **extra: Any) -> list[str]:
    return [row[0] for row in shared.query(owner, "SELECT run_id FROM runs ORDER BY 1", **extra)]


def test_one_database_per_organization_and_snapshot_serves_its_queries(shared: Shared) -> None:
    alpha, beta = shared.database(A), shared.database(B)
    assert alpha is not beta
    assert shared.database(A) is alpha  # reused, not rebuilt, while nothing changed
    assert alpha.events is not beta.events
    assert set(alpha.events["owner"].to_pylist()) == {A}
    assert set(beta.events["owner"].to_pylist()) == {B}
    limited = shared.database(A, ("alpha_wf",))  # a key limited to some workflows
    assert limited is not alpha
    assert set(limited.events["run_id"].to_pylist()) == {"alpha-run-1"}
    # Interleaved queries each see their own organization only, on every path.
    for _ in range(3):
        assert _runs(shared, A) == ["alpha-run-1", "alpha-run-2"]
        assert _runs(shared, B) == ["beta-run-1"]
        assert _runs(shared, A, workflows=("alpha_wf",)) == ["alpha-run-1"]
        frame = sql(
            "SELECT DISTINCT owner FROM events",
            folder=shared.folder,
            owner=B,
            database_url=shared.url,
            frame=True,
        )
        assert list(frame["owner"]) == [B]
    # New events: a new snapshot, a new database that sees them; the old one is let go.
    shared.emit(A, "alpha-run-3", "alpha_wf")
    assert _runs(shared, A) == ["alpha-run-1", "alpha-run-2", "alpha-run-3"]
    assert shared.database(A) is not alpha
    assert all(e.databases.get(1) is not alpha for e in organization._filtered)
    assert _runs(shared, B) == ["beta-run-1"]


REFUSED = [
    "CREATE TEMP TABLE leak AS SELECT 42 AS x",
    "CREATE TABLE leak AS SELECT 42 AS x",
    "CREATE MACRO leak_macro() AS 42",
    "CREATE TEMP MACRO leak_macro() AS 42",
    "CREATE OR REPLACE VIEW runs AS SELECT 'forged' AS run_id",
    "CREATE SCHEMA leak_schema",
    "DROP VIEW runs",
    "ALTER VIEW runs RENAME TO old_runs",
    "SET VARIABLE leak_variable = 42",
    "SET TimeZone = 'Asia/Tokyo'",
    "SET GLOBAL python_enable_replacements = true",
    "RESET lock_configuration",
    "PRAGMA enable_profiling",
    "ATTACH ':memory:' AS leak_db",
    "USE temp",
    "PREPARE leak_prepared AS SELECT 42",
    "BEGIN TRANSACTION",
    "SELECT 1; CREATE TEMP TABLE leak AS SELECT 42 AS x",
    "SELECT * FROM query('CREATE TEMP TABLE leak AS SELECT 42 AS x')",
]


def _catalog(shared: Shared, owner: str) -> list[list[Any]]:
    return shared.query(
        owner,
        """SELECT 'view', view_name FROM duckdb_views() WHERE NOT internal
           UNION ALL SELECT 'table', table_name FROM duckdb_tables()
           UNION ALL SELECT 'macro', function_name FROM duckdb_functions()
                     WHERE function_type LIKE '%macro%' AND NOT internal
           UNION ALL SELECT 'schema', schema_name FROM duckdb_schemas() WHERE NOT internal
           UNION ALL SELECT 'database', database_name FROM duckdb_databases()
                     WHERE NOT internal
           ORDER BY 1, 2""",
    )


def test_a_query_cannot_reconfigure_the_kept_database_or_leave_anything(shared: Shared) -> None:
    before = {owner: _catalog(shared, owner) for owner in (A, B)}
    assert sorted(name for kind, name in before[A] if kind == "view") == sorted(
        ["events", EVENTS_TABLE, *VIEWS]
    )
    database = shared.database(A)
    for query in REFUSED:
        with pytest.raises(FlowAtError, match=r"SELECT|statement|Parser|parse"):
            shared.query(A, query)
    # The same kept database, unchanged; the other organization's too.
    assert shared.database(A) is database
    assert {owner: _catalog(shared, owner) for owner in (A, B)} == before
    settings = shared.query(
        A,
        """SELECT current_setting('TimeZone'), current_setting('enable_external_access'),
                  current_setting('lock_configuration'),
                  current_setting('python_enable_replacements'),
                  getvariable('leak_variable'), current_setting('threads')""",
    )
    assert settings == [["UTC", False, True, False, None, 1]]
    assert _runs(shared, A) == ["alpha-run-1", "alpha-run-2"]


def test_session_state_stays_with_its_cursor(shared: Shared) -> None:
    """Defence in depth: what a cursor's own session holds never reaches the next cursor.

    Temporary objects, variables and settings live in a cursor's session; even written
    straight through a cursor (no SELECT-only check in the way), the next cursor of the
    same organization's database, and any of another's, starts clean.
    """
    alpha, beta = shared.database(A), shared.database(B)
    first = alpha.cursor()
    first.execute("CREATE TEMP TABLE leak AS SELECT 42 AS x")
    first.execute("CREATE TEMP MACRO leak_macro() AS 42")
    first.execute("SET VARIABLE leak_variable = 42")
    first.execute("SELECT setseed(0.5)")
    assert first.execute(
        "SELECT x, leak_macro(), getvariable('leak_variable') FROM leak"
    ).fetchall()
    # Configuration stays locked, for the session as well as globally.
    for statement in (
        "SET python_enable_replacements = true",
        "SET enable_external_access = true",
        "SET TimeZone = 'Asia/Tokyo'",
        "SET lock_configuration = false",
    ):
        with pytest.raises(duckdb.Error, match="locked"):
            first.execute(statement)
    # ATTACH of a file is refused (no file access); of another in-memory database, it
    # would be in this session only (checked below).
    with pytest.raises(duckdb.Error):
        first.execute(f"ATTACH '{shared.folder / 'leak.db'}' AS leak_file")
    assert not (shared.folder / "leak.db").exists()
    first.close()
    for cursor in (alpha.cursor(), beta.cursor(), alpha.cursor()):
        try:
            for query in ("SELECT * FROM leak", "SELECT leak_macro()"):
                with pytest.raises(duckdb.CatalogException):
                    cursor.execute(query)
            assert cursor.execute("SELECT getvariable('leak_variable')").fetchall() == [(None,)]
            assert cursor.execute("SELECT current_setting('TimeZone')").fetchall() == [("UTC",)]
        finally:
            cursor.close()
    # No Python variable of the process is reachable by name (replacement scans off).
    other_events = beta.events  # noqa: F841  (named so a replacement scan could find it)
    with alpha.cursor() as cursor, pytest.raises(duckdb.CatalogException):
        cursor.execute("SELECT * FROM other_events")


def test_a_stopped_query_leaves_the_database_usable(shared: Shared) -> None:
    database = shared.database(A)
    with pytest.raises(FlowAtError, match="was stopped"):
        shared.query(A, "SELECT sum(hash(range)) FROM range(10000000000000)", timeout=0.3)
    assert shared.database(A) is database
    assert _runs(shared, A) == ["alpha-run-1", "alpha-run-2"]


def test_concurrent_queries_of_two_organizations_each_see_their_own(shared: Shared) -> None:
    expected = {A: ["alpha-run-1", "alpha-run-2"], B: ["beta-run-1"]}
    errors: list[BaseException] = []

    def work(owner: str) -> None:
        try:
            for _ in range(15):
                assert _runs(shared, owner) == expected[owner]
                with organization_cursor(shared.folder, owner, database_url=shared.url) as c:
                    owners = c.execute("SELECT DISTINCT owner FROM events").fetchall()
                assert owners == [(owner,)]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(owner,)) for owner in (A, B, A, B)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def test_the_shared_parser_judges_each_query_alone() -> None:
    """One parser serves the process: a failed parse does not affect the next, in any thread."""
    verdicts: dict[str, str] = {
        "SELECT 1": "ok",
        "this is not SQL": "syntax",
        "SELECT 1; SELECT 2": "2 statements",
        "CREATE TABLE t AS SELECT 1": "not a SELECT",
        "WITH x AS (SELECT 1) SELECT * FROM x": "ok",
        "   ": "empty",
    }
    errors: list[str] = []

    def judge() -> None:
        for _ in range(50):
            for query, verdict in verdicts.items():
                try:
                    one_select(query)
                    got = "ok"
                except FlowAtError as exc:
                    got = str(exc)
                if (verdict == "ok") != (got == "ok") or (
                    verdict not in ("ok", "syntax") and verdict not in got
                ):
                    errors.append(f"{query!r}: {got}")

    threads = [threading.Thread(target=judge) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[:3]


def test_compaction_leaves_no_dead_rows_for_readers_to_scan(shared: Shared) -> None:
    """Every refresh asks for ``id > N``; rows a compaction moved must not stay behind dead."""
    import sqlalchemy as sa

    from flowat_kernel.analytics.shared_compaction import compact_shared

    store = shared_events(shared.url)
    assert store is not None
    done = compact_shared(store)
    assert done is not None and done.events_moved == 9
    with store.engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
        dead, vacuums = conn.execute(
            sa.text(
                "SELECT n_dead_tup, vacuum_count FROM pg_stat_user_tables "
                "WHERE relname = 'analytics_events'"
            )
        ).one()
    assert (dead, vacuums) == (0, 1)
    assert _runs(shared, A) == ["alpha-run-1", "alpha-run-2"]  # now read from the segments
