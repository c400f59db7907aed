"""What the event writer costs a process: pyarrow only to convert, never pandas.

Turning a spool into Parquet loads pyarrow only, not pandas (0.3 to 0.5 s, about 30 MB);
a short-lived process that emitted an event and never loaded pyarrow leaves its spool to
the next long-lived writer (0.1 to 0.2 s less for ``flowat run``), and nothing is lost.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path


def test_a_writer_converts_its_spool_without_importing_pandas(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        from datetime import UTC, datetime, timedelta
        from pathlib import Path
        from flowat_kernel.analytics.events import event
        from flowat_kernel.analytics.writer import EventWriter
        writer = EventWriter(Path({str(tmp_path)!r}))
        now = datetime.now(UTC)
        for i in range(5):  # two days: one file each
            writer.emit(event("run_queued", run_id=f"r{{i}}", workflow="w", version=1,
                              owner="o", trigger="cli", ts=now - timedelta(days=i % 2)))
        writer.close(convert=True)
        print(json.dumps("pandas" in sys.modules))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) is False
    import pyarrow.parquet as pq

    files = sorted((tmp_path / "events").rglob("*.parquet"))
    assert len(files) == 2
    runs = [pq.read_table(f)["run_id"].to_pylist() for f in files]
    assert runs == [["r1", "r3"], ["r0", "r2", "r4"]]  # by day, in emission order
    assert not list((tmp_path / "spool").glob("*.jsonl"))  # nothing left to convert


def test_a_short_process_leaves_its_spool_to_the_next_writer(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        from flowat_kernel.analytics.events import event
        from flowat_kernel.analytics.writer import EventWriter
        writer = EventWriter(Path({str(tmp_path)!r}))
        writer.emit(event("run_queued", run_id="short", workflow="w", version=1,
                          owner="o", trigger="cli"))
        writer.close()
        print(json.dumps(sorted(m for m in ("pyarrow", "numpy") if m in sys.modules)))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    [orphan] = list((tmp_path / "spool").glob("*.jsonl"))
    assert b'"run_id":"short"' in orphan.read_bytes()

    from flowat_kernel.analytics.query import sql

    # read as it is, before anyone converts it
    assert sql("SELECT run_id FROM events", folder=tmp_path, owner="o").fetchall() == [("short",)]

    from flowat_kernel.analytics.writer import EventWriter

    writer = EventWriter(tmp_path, flush_seconds=0.05)  # a long-lived writer converts it
    try:
        deadline = time.monotonic() + 60
        while orphan.exists():
            assert time.monotonic() < deadline, "the orphaned spool was never converted"
            time.sleep(0.05)
    finally:
        writer.close()
    import pyarrow.parquet as pq

    files = sorted((tmp_path / "events").rglob("*.parquet"))
    assert [pq.read_table(f)["run_id"].to_pylist() for f in files] == [["short"]]
