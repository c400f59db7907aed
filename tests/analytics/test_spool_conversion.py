"""Converting a spool file to Parquet: Arrow's fast reader, the fallback for a torn line,
and one file per UTC day with rows in order."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from flowat_kernel.analytics.events import event
from flowat_kernel.analytics.writer import convert_spool, read_spool


def _line(ts: str, run_id: str) -> str:
    row = event("run_queued", run_id=run_id, workflow="w", version=1, owner="o")
    row["ts"] = ts
    return json.dumps(row, separators=(",", ":"), default=str)


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_spool_becomes_one_parquet_file_per_day_in_order(tmp_path: Path) -> None:
    spool = _write(
        tmp_path / "h-1-0.jsonl",
        [
            _line("2026-11-29T23:59:59.000001+00:00", "a"),
            _line("2026-11-30T00:00:00+00:00", "b"),
            _line("2026-11-29T12:00:00+00:00", "c"),
        ],
    )
    assert convert_spool(tmp_path, spool) == 3
    assert not spool.exists()
    days = sorted(p.parent.name for p in tmp_path.glob("events/*/*.parquet"))
    assert days == ["day=2026-11-29", "day=2026-11-30"]
    first = pq.read_table(next(tmp_path.glob("events/day=2026-11-29/*.parquet")))
    assert first["run_id"].to_pylist() == ["a", "c"]
    assert str(first["ts"].type) == "timestamp[us, tz=UTC]"


def test_a_torn_line_is_skipped_and_the_rest_kept(tmp_path: Path) -> None:
    whole = [_line("2026-11-30T10:00:00+00:00", f"r{i}") for i in range(3)]
    torn = whole[0][: len(whole[0]) // 2]  # a crash mid-write
    spool = _write(tmp_path / "h-2-0.jsonl", [whole[0], torn, whole[1], whole[2]])
    table = read_spool(spool)
    assert table["run_id"].to_pylist() == ["r0", "r1", "r2"]


def test_unknown_fields_are_ignored_and_an_empty_spool_is_empty(tmp_path: Path) -> None:
    row = json.loads(_line("2026-11-30T10:00:00+00:00", "x"))
    row["from_a_newer_version"] = 1
    spool = _write(tmp_path / "h-3-0.jsonl", [json.dumps(row)])
    assert read_spool(spool)["run_id"].to_pylist() == ["x"]
    empty = tmp_path / "h-4-0.jsonl"
    empty.write_text("")
    assert convert_spool(tmp_path, empty) == 0 and not list(tmp_path.glob("events/*/h-4-0*"))
