"""Helpers shared by the benchmarks: the machine a result was measured on, a throw-away
PostgreSQL database on 127.0.0.1:5432, and the slowest imports of a command."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

__all__ = [
    "PG_ADMIN_DB",
    "PG_SERVER",
    "import_times",
    "machine",
    "pg_create",
    "pg_drop",
    "psycopg_version",
    "slowest_imports",
    "write_results",
]

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
PG_ADMIN_DB = "test"


def machine(**versions: Any) -> dict[str, Any]:
    """Cores, Python, platform and the load average now, plus the given ``versions``."""
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **versions,
        "loadavg_at_start": os.getloadavg(),
    }


def psycopg_version() -> str | None:
    """psycopg's version, or None when it is not installed."""
    try:
        import psycopg
    except ImportError:
        return None
    return str(psycopg.__version__)


def _admin():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(
        host="127.0.0.1", port=5432, user="postgres", dbname=PG_ADMIN_DB, autocommit=True
    )


def pg_create(prefix: str) -> tuple[str | None, str]:
    """A fresh PostgreSQL database: (url, "") or (None, why it is skipped)."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        return None, f"psycopg is not installed ({exc})"
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with _admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        return None, f"no PostgreSQL at 127.0.0.1:5432 ({exc.__class__.__name__}: {exc})"
    return f"{PG_SERVER}/{name}", ""


def pg_drop(url: str) -> None:
    """Drop a database made by :func:`pg_create`."""
    name = url.rsplit("/", 1)[1]
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def timed(action: Any) -> float:
    """Seconds ``action()`` took."""
    import time

    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def throughput(seconds: list[float], size: int) -> dict[str, Any]:
    """Median, fastest and MB/s of moving ``size`` bytes in each of ``seconds``."""
    import statistics

    median = statistics.median(seconds)
    return {
        "median_s": round(median, 4),
        "min_s": round(min(seconds), 4),
        "mb_per_s": round(size / median / 1e6, 1),
        "runs_s": [round(s, 4) for s in seconds],
    }


def import_times(argv: list[str], env: dict[str, str]) -> list[tuple[str, float, float]]:
    """Each module ``python -X importtime ARGV`` imports: (name, own s, cumulative s)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        rows.append((name.strip(), int(own) / 1e6, int(cumulative) / 1e6))
    return rows


def slowest_imports(argv: list[str], env: dict[str, str], top: int = 12) -> list[tuple[str, float]]:
    """The ``top`` modules with the largest cumulative import time (``-X importtime``).

    Nested imports are included: a module's time includes the imports it triggers.
    """
    rows = [(name, cumulative) for name, _, cumulative in import_times(argv, env)]
    return sorted(rows, key=lambda r: -r[1])[:top]


class SharedWorker:
    """A ``flowat worker`` subprocess, ready once it says it polls."""

    def __init__(self, cli: list[str], env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            [*cli, "worker"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.ready = threading.Event()
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(120):
            self.stop()
            raise RuntimeError("flowat worker did not start: " + "\n".join(self.lines[-20:]))

    def _read(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            self.lines.append(line.rstrip())
            if "polling task queue" in line:
                self.ready.set()

    def stop(self) -> None:
        """Interrupt it (Ctrl-C) and wait for it to leave."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(60)
            except subprocess.TimeoutExpired:
                self.popen.kill()


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Write a benchmark's results as indented JSON at ``path`` and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {path}")
