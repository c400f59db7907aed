"""``flowat analytics sql|compact`` and ``%%flowat sql``, over real runs.

``FLOWAT_HOME`` is shared by the test session: queries are filtered by this test's
workflow, and compaction (which keeps every event) never expires days here.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import flowat_kernel as flowat
from flowat_kernel.analytics import sql
from flowat_kernel.cli.main import main
from flowat_kernel.runtime import get_runtime
from flowat_kernel.testing import cells


def _run_some(workflow: str) -> Counter[str]:
    """Publish a one-step workflow; run it three times, once failing. Statuses counted."""
    flowat.publish(
        workflow, cells=cells("%%flowat step divide --retries 0\nq = 10 // n", parameters="n = 1")
    )
    statuses = Counter(flowat.run(workflow, parameters={"n": n}).status for n in (1, 0, 5))
    assert statuses == {"succeeded": 2, "failed": 1}
    # The store says a run ended a moment before its run_finished event is written.
    deadline = time.monotonic() + 30
    query = f"SELECT count(*) FROM runs WHERE workflow = '{workflow}' AND ended_at IS NOT NULL"
    while sql(query).fetchall() != [(3,)]:
        assert time.monotonic() < deadline, "the runs' run_finished events never arrived"
        time.sleep(0.05)
    return statuses


def test_sql_json_counts_equal_the_store(
    temporal: str, workflow_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _run_some(workflow_name)
    records = flowat.runs(workflow_name, limit=100)
    capsys.readouterr()
    query = (
        f"SELECT status, count(*) AS n FROM runs WHERE workflow = '{workflow_name}' "
        "GROUP BY status ORDER BY status"
    )
    assert main(["analytics", "sql", query, "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == [
        {"status": status, "n": count}
        for status, count in sorted(Counter(r.status for r in records).items())
    ]

    query = f"SELECT count(*) AS n FROM runs WHERE workflow = '{workflow_name}'"
    assert main(["analytics", "sql", query, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": len(records)}]

    # Timestamps come out as ISO strings; the plain form is a table.
    query = f"SELECT run_id, ended_at FROM runs WHERE workflow = '{workflow_name}' ORDER BY run_id"
    assert main(["analytics", "sql", query, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in rows] == sorted(r.run_id for r in records)
    assert all(datetime.fromisoformat(r["ended_at"]).tzinfo is not None for r in rows)
    assert main(["analytics", "sql", query]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["run_id", "ended_at"] and len(lines) == 2 + len(records)


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("SELEC * FROM runs", 'syntax error at or near "SELEC"'),
        ("SELECT * FROM no_such_view", "no_such_view does not exist"),
        ("SELECT no_such_column FROM runs", "no_such_column"),
        ("SELECT CAST('x' AS INTEGER) AS v", "Could not convert string 'x'"),  # at run time
    ],
)
def test_a_bad_query_is_a_one_line_error_exit_2(
    temporal: str, capsys: pytest.CaptureFixture[str], query: str, says: str
) -> None:
    assert main(["analytics", "sql", query]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith("flowat: error: the analytics query failed: ") and says in line
    assert "Traceback" not in captured.err

    assert main(["analytics", "sql", query, "--json"]) == 2
    document = json.loads(capsys.readouterr().out)
    assert document["error"]["type"] == "FlowAtError" and says in document["error"]["message"]


def test_compact_keeps_every_event(
    temporal: str, workflow_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _run_some(workflow_name)
    count = f"SELECT count(*) FROM events WHERE workflow = '{workflow_name}'"
    [(before,)] = sql(count).fetchall()
    assert before > 0
    capsys.readouterr()
    assert main(["analytics", "compact", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {
        "days_compacted",
        "files_before",
        "files_after",
        "days_expired",
        "events",
    }
    assert report["days_expired"] == 0
    assert report["files_after"] <= report["files_before"]
    home = get_runtime().settings.home
    for day in (home / "analytics" / "events").glob("day=*"):
        assert len(list(day.glob("*.parquet"))) <= 1, day  # nothing flushed since
    assert sql(count).fetchall() == [(before,)]

    assert main(["analytics", "compact"]) == 0
    assert "expired 0 days" in capsys.readouterr().out


def test_compact_refuses_a_retention_under_one_day(
    temporal: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analytics", "compact", "--retention-days", "0"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("flowat: error: ") and "--retention-days" in line


# -- %%flowat sql -----------------------------------------------------------------------


def test_the_sql_cell_magic_returns_a_data_frame(
    shell: InteractiveShell,
    temporal: str,
    workflow_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    statuses = _run_some(workflow_name)
    result = shell.run_cell(  # type: ignore[no-untyped-call]
        "%%flowat sql\n"
        f"SELECT status, count(*) AS n FROM runs WHERE workflow = '{workflow_name}'\n"
        "GROUP BY status ORDER BY status"
    )
    assert result.error_in_exec is None and result.error_before_exec is None
    frame = result.result
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["status", "n"]
    assert dict(zip(frame["status"], frame["n"], strict=True)) == statuses

    capsys.readouterr()
    bad = shell.run_cell("%%flowat sql\nSELECT * FROM no_such_view")  # type: ignore[no-untyped-call]
    assert type(bad.error_in_exec) is UsageError
    assert "no_such_view does not exist" in str(bad.error_in_exec)
    output = capsys.readouterr()
    assert "Traceback" not in output.out + output.err
