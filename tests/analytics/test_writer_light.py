"""Turning a spool into Parquet loads pyarrow only: not pandas (0.3 to 0.5 s, about 30 MB)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
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
        writer.close()
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
