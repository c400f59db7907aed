"""Shared analytics on the real PostgreSQL at 127.0.0.1:5432: every host's events seen by
every host, nothing lost or counted twice when a process dies, compaction, expiry and
deletion over rows and segments, and no organization reading another's events through
any query path (Python API, CLI, ``%%flowat sql``, REST, dashboard), crafted SQL
included.

Each test has a fresh database; "hosts" are processes with separate ``FLOWAT_HOME``s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flowat_kernel.analytics.deletion import delete_run_events, event_run_ids
from flowat_kernel.analytics.events import event
from flowat_kernel.analytics.query import sql
from flowat_kernel.analytics.retention import compact
from flowat_kernel.analytics.shared_store import shared_events
from flowat_kernel.analytics.writer import EventWriter, recover_orphans, write_table
from flowat_kernel.runtime import reset_runtime

HOST_SCRIPT = r"""
import json, os, sys, time
from pathlib import Path
host, barrier, arrow = sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "arrow"
if arrow:
    import pyarrow  # the flush goes through Arrow's CSV writer; else row by row
from flowat_kernel.analytics.events import event
from flowat_kernel.analytics.writer import EventWriter
writer = EventWriter(Path(os.environ["FLOWAT_HOME"]) / "analytics", flush_seconds=3600)
for i in range(3):
    run = f"{host}-run-{i}"
    writer.emit_many([
        event("run_started", run_id=run, workflow="shared_wf", owner="acme"),
        event("step_succeeded", run_id=run, workflow="shared_wf", owner="acme",
              step=f"on_{host}", duration_ms=5.0),
        event("run_finished", run_id=run, workflow="shared_wf", owner="acme",
              status="succeeded", duration_ms=7.0),
    ])
writer.close()  # sends what is left to the shared table
(barrier / host).touch()
deadline = time.monotonic() + 60
while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
    time.sleep(0.05)
from flowat_kernel.analytics.query import sql
print(json.dumps({
    "runs": sorted(r for (r,) in sql("SELECT run_id FROM runs", owner="acme").fetchall()),
    "steps": sorted(s for (s,) in sql("SELECT DISTINCT step FROM steps", owner="acme").fetchall()),
}))
"""


def _events(
    run: str, owner: str, workflow: str, ts: datetime | None = None
) -> list[dict[str, Any]]:
    ts = ts or datetime.now(UTC)
    common = {"run_id": run, "owner": owner, "workflow": workflow, "version": 1}
    return [
        event("run_started", ts=ts, **common),
        event("step_succeeded", ts=ts, step="load", duration_ms=3.0, **common),
        event("run_finished", ts=ts, status="succeeded", duration_ms=4.0, **common),
    ]


def _env(home: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWAT_")}
    return {**env, "FLOWAT_HOME": str(home), "FLOWAT_DATABASE_URL": url}


def test_two_hosts_each_see_both_hosts_events(
    tmp_path: Path, new_postgres_database: Callable[[str], str]
) -> None:
    url = new_postgres_database("flowat_analytics")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    hosts = {}
    for name, mode in (("a", "arrow"), ("b", "rows")):
        home = tmp_path / f"home-{name}"
        home.mkdir(mode=0o700)
        hosts[name] = subprocess.Popen(
            [sys.executable, "-c", HOST_SCRIPT, name, str(barrier), mode],
            env=_env(home, url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    expected_runs = sorted(f"{h}-run-{i}" for h in "ab" for i in range(3))
    for name, process in hosts.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        seen = json.loads(out.strip().splitlines()[-1])
        assert seen == {"runs": expected_runs, "steps": ["on_a", "on_b"]}, name
        # Nothing went into the host's own folder: the events are in the database only.
        assert not list((tmp_path / f"home-{name}" / "analytics").rglob("*.parquet"))


def test_a_dead_process_spool_reaches_the_database_once(
    tmp_path: Path, new_postgres_database: Callable[[str], str]
) -> None:
    url = new_postgres_database("flowat_analytics")
    folder = tmp_path / "analytics"
    script = (
        "import os, sys\nfrom pathlib import Path\n"
        "from flowat_kernel.analytics.events import event\n"
        "from flowat_kernel.analytics.writer import EventWriter\n"
        f"w = EventWriter(Path({str(folder)!r}), flush_seconds=3600)\n"
        "for i in range(4):\n"
        "    w.emit(event('run_started', run_id=f'dead-{i}', owner='acme', workflow='wf'))\n"
        "os._exit(0)  # dies before any flush\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=_env(tmp_path, url), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    [spool] = (folder / "spool").glob("*.jsonl")
    kept = spool.read_bytes()
    shared = shared_events(url)
    assert shared is not None
    assert recover_orphans(folder, shared) == 4 and not spool.exists()
    # Died again after the COPY but before removing the spool: sent twice, counted once.
    spool.write_bytes(kept)
    recover_orphans(folder, shared)
    runs = sql(
        "SELECT run_id FROM runs ORDER BY run_id", folder=folder, owner="acme", database_url=url
    )
    assert runs.fetchall() == [(f"dead-{i}",) for i in range(4)]


def test_compaction_expiry_and_deletion_cover_rows_and_segments(
    tmp_path: Path, new_postgres_database: Callable[[str], str]
) -> None:
    url = new_postgres_database("flowat_analytics")
    folder = tmp_path / "analytics"
    today = datetime.now(UTC)
    old = today - timedelta(days=10)
    writer = EventWriter(folder, database_url=url)
    writer.emit_many(_events("old-1", "acme", "wf", old) + _events("new-1", "acme", "wf", today))
    writer.emit_many(_events("new-2", "acme", "wf", today))
    writer.close()
    count = "SELECT count(*) FROM events"

    def events_now() -> int:
        [(n,)] = sql(count, folder=folder, owner="acme", database_url=url).fetchall()
        return int(n)

    assert events_now() == 9
    report = compact(folder, database_url=url)
    assert report.events == 9 and report.files_after == 2  # two days, one segment each
    assert events_now() == 9  # the same events, now in Parquet segments
    writer = EventWriter(folder, database_url=url)  # a row after compaction: both are read
    writer.emit_many(_events("new-3", "acme", "wf", today))
    writer.close()
    assert events_now() == 12
    assert event_run_ids(folder, database_url=url) == {"old-1", "new-1", "new-2", "new-3"}

    # Deleting runs removes them from segments (new-1) and from rows (new-3).
    assert delete_run_events(folder, ["new-1", "new-3"], database_url=url) == 6
    assert delete_run_events(folder, ["new-1", "new-3"], database_url=url) == 0
    assert event_run_ids(folder, database_url=url) == {"old-1", "new-2"}
    assert events_now() == 6

    expired = compact(folder, retention_days=3, database_url=url)
    assert expired.days_expired == 1
    runs = sql("SELECT run_id FROM runs", folder=folder, owner="acme", database_url=url)
    assert runs.fetchall() == [("new-2",)]


# -- one organization never reads another's events, through any path ----------------------


@dataclass
class SharedOrgs:
    home: Path
    url: str
    mine: Any  # tests.server.helpers.Org: the reader
    theirs: Any  # the organization whose events must stay unseen
    api: str


SECRET_WORKFLOW = "theirs_secret_wf"


@pytest.fixture(scope="module")
def shared_orgs(
    tmp_path_factory: pytest.TempPathFactory, new_postgres_database: Callable[[str], str]
) -> Iterator[SharedOrgs]:
    from flowat_kernel.server.serve import ApiServer
    from tests.server.helpers import new_org

    home = tmp_path_factory.mktemp("shared-home")
    url = new_postgres_database("flowat_analytics")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLOWAT_HOME", str(home))
        patch.setenv("FLOWAT_DATABASE_URL", url)
        patch.delenv("FLOWAT_API_KEY", raising=False)
        reset_runtime()
        mine, theirs = new_org("reader"), new_org("victim")
        writer = EventWriter(home / "analytics")
        assert writer.shared is not None
        writer.emit_many(
            [
                *_events("their-run-1", theirs.slug, SECRET_WORKFLOW),
                *_events("my-run-1", mine.slug, "my_wf"),
            ]
        )
        # A breaker opened on a host only they called: theirs to see, not the reader's.
        writer.emit_many(
            [
                event(
                    "action",
                    run_id="their-run-1",
                    owner=theirs.slug,
                    connector="http",
                    host="victim.internal",
                    status="failed",
                ),
                event("breaker_opened", connector="http", host="victim.internal"),
            ]
        )
        writer.close()
        # Their events as a Parquet file in the analytics folder too: a file to aim at.
        import pyarrow as pa

        from flowat_kernel.analytics.events import SCHEMA
        from flowat_kernel.analytics.writer import _as_table

        write_table(
            home / "analytics",
            _as_table(_events("their-run-2", theirs.slug, SECRET_WORKFLOW)),
            "planted",
        )
        assert isinstance(SCHEMA, pa.Schema)
        server = ApiServer("127.0.0.1", 0).start()
        try:
            yield SharedOrgs(home, url, mine, theirs, f"http://127.0.0.1:{server.port}")
        finally:
            server.stop()
            reset_runtime()


def _attacks(orgs: SharedOrgs) -> list[str]:
    folder = orgs.home / "analytics"
    return [
        f"SELECT * FROM events WHERE owner = '{orgs.theirs.slug}'",
        f"SELECT * FROM runs WHERE workflow = '{SECRET_WORKFLOW}'",
        f"SELECT * FROM organization_events WHERE owner <> '{orgs.mine.slug}'",
        "SELECT * FROM query_table('events')",
        "SELECT * FROM events WHERE run_id IS NULL",
        "SELECT * FROM connector_health",
        f"SELECT * FROM read_parquet('{folder}/**/*.parquet')",
        f"SELECT * FROM '{folder}/events/*/*.parquet'",
        f"SELECT * FROM read_json('{folder}/spool/*.jsonl')",
        f"SELECT * FROM glob('{folder}/**')",
        "SELECT * FROM analytics_events",
        "SELECT * FROM analytics_segments",
        f"SELECT * FROM postgres_scan('{orgs.url}', 'public', 'analytics_events')",
        f"ATTACH '{orgs.url}' AS pg (TYPE postgres)",
        f"SELECT 1; ATTACH '{orgs.home / 'flowat.db'}' AS s",
        "SET enable_external_access = true",
        "SELECT * FROM duckdb_tables()",
    ]


def _leaks(text: str, orgs: SharedOrgs) -> bool:
    marks = (orgs.theirs.slug, SECRET_WORKFLOW, "their-run", "victim.internal")
    return any(mark in text for mark in marks)


def _python_api(query: str) -> str:
    import flowat_kernel as flowat

    return str(flowat.analytics.sql(query).fetchall())


def _cli(query: str) -> str:
    import contextlib
    import io

    from flowat_kernel.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["analytics", "sql", query, "--json"])
    if code != 0:
        raise RuntimeError(err.getvalue())
    return out.getvalue()


def _magic(query: str) -> str:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "flowat_kernel")
    try:
        return str(shell.run_cell_magic("flowat", "sql", query).to_dict("records"))
    finally:
        shell.run_line_magic("unload_ext", "flowat_kernel")
        InteractiveShell.clear_instance()


@pytest.mark.parametrize("path", ["python", "cli", "magic", "rest"])
def test_a_member_of_another_organization_reads_none_of_its_events(
    shared_orgs: SharedOrgs, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    from flowat_kernel.access import Role

    orgs = shared_orgs
    key = orgs.mine.keys[Role.VIEWER]
    monkeypatch.setenv("FLOWAT_HOME", str(orgs.home))
    monkeypatch.setenv("FLOWAT_DATABASE_URL", orgs.url)
    monkeypatch.setenv("FLOWAT_API_KEY", key)

    def run(query: str) -> str:
        if path == "rest":
            reply = httpx.post(
                f"{orgs.api}/api/v1/analytics/query",
                json={"sql": query},
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
            )
            if reply.status_code != 200:
                raise RuntimeError(reply.text)
            return reply.text
        return {"python": _python_api, "cli": _cli, "magic": _magic}[path](query)

    # The reader's own events are there (the scoping is not just an empty result) ...
    assert "my-run-1" in run("SELECT run_id FROM runs")
    # ... and no query reaches the other organization's, however it is written.
    for query in _attacks(orgs):
        try:
            answer = run(query)
        except Exception as exc:  # refused: the message must not carry their data either
            answer = str(exc)
        assert not _leaks(answer, orgs), (path, query, answer)


def test_the_dashboard_shows_only_the_callers_organization(
    shared_orgs: SharedOrgs, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowat_kernel.access import Role
    from flowat_kernel.widgets.dashboard import Dashboard

    monkeypatch.setenv("FLOWAT_HOME", str(shared_orgs.home))
    monkeypatch.setenv("FLOWAT_DATABASE_URL", shared_orgs.url)
    monkeypatch.setenv("FLOWAT_API_KEY", shared_orgs.mine.keys[Role.VIEWER])
    dashboard = Dashboard(refresh_seconds=None)
    recent = dashboard.data()["recent"]
    assert list(recent["run_id"]) == ["my-run-1"]
    assert [label for label, _ in dashboard.workflow_control.options] == ["all", "my_wf"]
    theirs = Dashboard(refresh_seconds=None, owner=shared_orgs.theirs.slug)
    assert set(theirs.data()["recent"]["run_id"]) == {"their-run-1"}  # not the planted file
    breakers = sql(
        "SELECT host, breaker_openings FROM connector_health",
        folder=shared_orgs.home / "analytics",
        owner=shared_orgs.theirs.slug,
        database_url=shared_orgs.url,
    )
    assert breakers.fetchall() == [("victim.internal", 1)]


def test_events_a_flush_could_not_send_go_with_the_next_flush(
    tmp_path: Path, new_postgres_database: Callable[[str], str]
) -> None:
    from flowat_kernel.analytics.shared_store import SharedEvents

    url = new_postgres_database("flowat_analytics")
    folder = tmp_path / "analytics"
    writer = EventWriter(folder, flush_seconds=3600, database_url=url)
    good = writer.shared
    writer.emit_many(_events("first", "acme", "wf"))
    writer.shared = SharedEvents("postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    with pytest.raises(Exception, match=r"127\.0\.0\.1"):
        writer.flush()  # the database is unreachable: the spool is kept
    assert len(list((folder / "spool").glob("*.jsonl"))) == 2  # kept, and the new one
    writer.shared = good
    writer.emit_many(_events("second", "acme", "wf"))
    writer.flush()
    writer.close()
    runs = sql("SELECT run_id FROM runs ORDER BY 1", folder=folder, owner="acme", database_url=url)
    assert runs.fetchall() == [("first",), ("second",)]
    assert not list((folder / "spool").glob("*.jsonl"))
