"""A metadata store outage: PostgreSQL is restarted while runs are in the middle of steps.

The machine's shared PostgreSQL (5432) must keep running for everything else, so this
module starts a PostgreSQL server of its own (``initdb``, ``pg_ctl``, as the
``postgres`` OS user when the tests run as root), on a free loopback port, and stops it
for real (``pg_ctl -m fast stop``) while steps run. The runs must finish, and every run
and step record must catch up, none lost and none duplicated.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

import flowat_kernel as flowat
from flowat_kernel.compiler import Cell
from flowat_kernel.runtime import get_runtime, reset_runtime
from flowat_kernel.testing import free_port

RUNS = 4


def _postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder, if any."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")]
    complete = [b for b in found if (b / "initdb").exists() and (b / "postgres").exists()]
    if not complete:
        return None
    return max(complete, key=lambda b: int(b.parent.name) if b.parent.name.isdigit() else 0)


@dataclass
class PostgresServer:
    """A PostgreSQL server this module started, which tests stop and start again."""

    bin: Path
    folder: Path
    port: int
    url: str = ""

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(
            command, cwd=self.folder, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(args[:2])} exited {done.returncode}: {done.stdout}{done.stderr}\n"
                f"server log:\n{tail}"
            )

    def initdb(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this module's own, with an empty ``flowat`` database."""
    binaries = _postgres_bin()
    if binaries is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) are not installed under "
            "/usr/lib/postgresql/*/bin: install the postgresql package to run the outage test"
        )
    folder = Path(tempfile.mkdtemp(prefix="flowat-pg-"))
    server = PostgresServer(binaries, folder, free_port())
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        server.initdb()
        server.start()
        admin = sa.create_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/postgres",
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE flowat"))
        admin.dispose()
        server.url = f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/flowat"
        print(f"\nPostgreSQL of the outage tests: {server.url} (data in {server.data})")
        yield server
    finally:
        if server.running():
            try:
                server.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                print(f"could not stop the outage tests' PostgreSQL: {exc}")
        shutil.rmtree(folder, ignore_errors=True)


def _cells(gates: Path) -> list[Cell]:
    """Three steps; the second and third wait on files the test writes around the outage.

    ``middle`` announces itself with ``<run id>.middle`` and finishes only once the store
    is down (so its end is not recorded); ``last`` therefore starts during the outage and
    finishes once the store is back (its start is not recorded, its end is).
    """
    wait_for = (
        "import pathlib, time\n"
        f"_gates = pathlib.Path({str(gates)!r})\n"
        "def _wait_for(name):\n"
        "    deadline = time.monotonic() + 90\n"
        "    while not (_gates / name).exists():\n"
        "        if time.monotonic() > deadline:\n"
        "            raise TimeoutError(f'gate {name} never opened')\n"
        "        time.sleep(0.05)\n"
    )
    return [
        Cell("n = 1", 1, tags=("parameters",)),
        Cell("%%flowat step first\nbase = n * 10", 2),
        Cell(
            "%%flowat step middle\n"
            + wait_for
            + "(_gates / (flowat.current_step().run_id + '.middle')).write_text('x')\n"
            "_wait_for('store-down')\n"
            "time.sleep(0.5)\n"
            "middle = base + 1",
            3,
        ),
        Cell(
            "%%flowat step last\n"
            + wait_for
            + "_wait_for('store-up')\n"
            + "total = middle * 2\nreport = {'n': n, 'total': total}",
            4,
        ),
    ]


def _until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_postgres_restart_mid_runs_records_catch_up_none_lost_or_duplicated(
    temporal: str,
    workflow_name: str,
    postgres_server: PostgresServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWAT_DATABASE_URL", postgres_server.url)
    monkeypatch.setenv("FLOWAT_HEARTBEAT_TIMEOUT", "2")
    reset_runtime()
    gates = tmp_path / "gates"
    gates.mkdir()
    flowat.publish(workflow_name, cells=_cells(gates))

    queued = [
        flowat.run(workflow_name, parameters={"n": n}, wait=False, worker="always")
        for n in range(1, RUNS + 1)
    ]
    ids = {run.run_id: n for run, n in zip(queued, range(1, RUNS + 1), strict=True)}
    try:
        _until(
            lambda: all((gates / f"{run_id}.middle").exists() for run_id in ids),
            60,
            "every run's middle step to start",
        )
        before_outage = get_runtime().store.get_run(queued[0].run_id)
        first_ended = {s.name: s.ended_at for s in before_outage.steps}["first"]
        assert first_ended is not None  # recorded before the outage

        postgres_server.stop("fast")
        assert not postgres_server.running()
        (gates / "store-down").write_text("x")

        # A run cannot be recorded while the store is down: it must not start silently.
        with pytest.raises(flowat.StoreError) as refused:
            flowat.run(workflow_name, parameters={"n": 99}, wait=False, worker="always")
        message = str(refused.value)
        assert "Check that the database is running and reachable" in message, message
        assert f"127.0.0.1:{postgres_server.port}" in message, message
        assert "password" not in message.lower()

        time.sleep(4)  # the middle steps finish and the last steps start: nothing is recorded
        postgres_server.start()
    finally:
        (gates / "store-down").write_text("x")
        (gates / "store-up").write_text("x")

    runs = [flowat.wait(run_id, timeout=120) for run_id in ids]

    for run in runs:
        n = ids[run.run_id]
        assert run.status == "succeeded", (run.run_id, run.error)
        assert run.record.ended_at is not None and run.record.started_at is not None
        expected = {
            "first": {"base": n * 10},
            "middle": {"middle": n * 10 + 1},
            "last": {"total": (n * 10 + 1) * 2, "report": {"n": n, "total": (n * 10 + 1) * 2}},
        }
        assert run.outputs == expected, run.run_id
        steps = {s.name: s for s in run.record.steps}
        assert list(steps) == ["first", "middle", "last"]
        for name, step in steps.items():
            where = f"run {run.run_id} step {name}"
            assert step.status == "succeeded", where
            assert step.attempts == 1, where  # the outage made no step run again
            assert step.error is None, where
            assert step.started_at is not None and step.ended_at is not None, where
            assert step.started_at <= step.ended_at, where
            assert step.outputs is not None, where
            assert {k: v["inline"] for k, v in step.outputs.items()} == expected[name], where
    # Records written before the outage are left as they were.
    assert {s.name: s.ended_at for s in runs[0].record.steps}["first"] == first_ended

    # Straight from the database: one row per run and per (run, step), none running.
    engine = sa.create_engine(postgres_server.url)
    try:
        with engine.connect() as conn:
            run_rows = conn.execute(sa.text("SELECT id, status FROM runs")).all()
            step_rows = conn.execute(
                sa.text("SELECT run_id, step, count(*) FROM step_runs GROUP BY run_id, step")
            ).all()
            unfinished = conn.execute(
                sa.text(
                    "SELECT run_id, step, status FROM step_runs "
                    "WHERE status NOT IN ('succeeded') OR ended_at IS NULL"
                )
            ).all()
    finally:
        engine.dispose()
    assert sorted(run_rows) == sorted((run_id, "succeeded") for run_id in ids)
    assert sorted(step_rows) == sorted(
        (run_id, step, 1) for run_id in ids for step in ("first", "middle", "last")
    )
    assert unfinished == []

    # The refused run never reached Temporal either: only the four runs' workflows exist.
    async def workflow_ids() -> list[str]:
        client = await get_runtime().client()
        prefix = f"flowat-{workflow_name}-"
        listed = client.list_workflows("WorkflowType = 'flowat.graph'")
        return [w.id async for w in listed if w.id.startswith(prefix)]

    assert sorted(get_runtime().call(workflow_ids())) == sorted(
        f"flowat-{workflow_name}-{run_id}" for run_id in ids
    )
