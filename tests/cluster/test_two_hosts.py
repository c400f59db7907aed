"""FlowAt as two hosts sharing only Temporal, PostgreSQL and (in one case) an S3 server.

Each host is a folder of its own (mode 0700) holding its ``FLOWAT_HOME``, and a set of
processes started from it: ``flowat publish``, ``flowat run``, ``flowat worker`` and a
reader script. The hosts share the session's Temporal dev server, a fresh PostgreSQL
database per test (the metadata store, and in the first case the artifacts too), the
master key and, in the second case, moto's S3 server on loopback. Nothing else.

The tests run as root (as CI does), for whom mode 0700 hides nothing. So every process
of a host runs in a mount namespace of its own in which the other host's folder is
covered by an empty, read-only tmpfs: a host cannot open, list or write anything of the
other's, whatever it tries. The test checks, from outside, that each worker's mounts do
cover the other host's folder and that no host's environment or command line names it.

What crosses hosts is what a deployment shares: the run's workflow and steps through
Temporal, run and step records and analytics events through PostgreSQL (A's analytics
and dashboard show the steps B ran), and the 100 MB frame through the artifact storage.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import sqlalchemy as sa
from nbformat.v4 import new_code_cell, new_notebook

from flowat_kernel.engine import devserver
from flowat_kernel.vault.keyring import encode_key, new_key

ROWS = 6_553_600  # two float64 columns: 104,857,600 bytes, a 100 MB frame
S3_KEY = "flowat-two-hosts-key-id"
S3_SECRET = "flowat-two-hosts-secret-5e1b"
CLI = [sys.executable, "-m", "flowat_kernel.cli.main"]


# -- hosts --------------------------------------------------------------------------------


def _mounts_hiding(folders: list[Path], argv: list[str]) -> list[str]:
    """``argv`` run in a new mount namespace where each of ``folders`` is an empty tmpfs."""
    script = (
        'for d in "$@"; do case "$d" in --) shift; break;; esac; '
        'mount -t tmpfs -o ro,mode=000,size=4k flowat-hidden "$d" || exit 97; shift; done; '
        'exec "$@"'
    )
    hidden = [str(f) for f in folders]
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
        *hidden,
        "--",
        *argv,
    ]


class Host:
    """One machine: a private folder with its ``FLOWAT_HOME``, and the processes it starts."""

    def __init__(self, name: str, root: Path, shared: dict[str, str]) -> None:
        self.name = name
        self.folder = root / name
        self.folder.mkdir(mode=0o700)
        self.home = self.folder / "home"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWAT_", "AWS_"))}
        self.env = {**base, **shared, "FLOWAT_HOME": str(self.home)}
        self.hidden: list[Path] = []  # the other hosts' folders, set once all exist
        self.logs = root / "logs"
        self.logs.mkdir(exist_ok=True)
        self.workers: dict[str, subprocess.Popen[bytes]] = {}

    def command(self, argv: list[str]) -> list[str]:
        return _mounts_hiding(self.hidden, argv)

    def log(self, label: str) -> Path:
        return self.logs / f"{self.name}-{label}.log"

    def start_worker(self, *args: str, name: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            self.command([*CLI, "worker", *args, "--name", name]),
            env=self.env,
            stdout=self.log(name).open("ab"),
            stderr=subprocess.STDOUT,
            cwd=self.folder,
        )
        self.workers[name] = process
        return process

    def wait_polling(self, name: str, seconds: float = 120) -> None:
        _until(
            lambda: self._alive(name) and "polling task queue" in self.log(name).read_text(),
            seconds,
            f"worker {name} to poll",
        )

    def _alive(self, name: str) -> bool:
        process = self.workers[name]
        assert process.poll() is None, f"{name} exited:\n{self.log(name).read_text()[-3000:]}"
        return True

    def start(self, argv: list[str], label: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(argv),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=self.log(label).open("ab"),
            text=True,
            cwd=self.folder,
        )

    def stop(self) -> None:
        """Kill the host's workers (the database they registered in is dropped anyway)."""
        for process in self.workers.values():
            if process.poll() is None:
                process.kill()
        for process in self.workers.values():
            process.wait(timeout=30)


def _until(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _mount_points(pid: int) -> dict[str, str]:
    """Mount point to file system type, as process ``pid`` sees them."""
    points = {}
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        points[fields[4]] = fields[fields.index("-") + 1]
    return points


def _assert_cannot_see(host: Host, other: Host) -> None:
    """Every live worker of ``host`` has ``other``'s folder covered and was never told it."""
    for name, process in host.workers.items():
        if process.poll() is not None:
            continue
        assert _mount_points(process.pid).get(str(other.folder)) == "tmpfs", name
        environ = Path(f"/proc/{process.pid}/environ").read_bytes()
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        assert str(other.folder).encode() not in environ + cmdline, name


@pytest.fixture
def hosts(
    flowat_home: Path, new_postgres_database: Callable[[str], str], tmp_path: Path
) -> Iterator[Callable[..., tuple[Host, Host]]]:
    """``hosts(**extra_shared_env)`` makes hosts A and B; their workers stop afterwards."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.fail(
            "the two-host tests hide each host's folder from the other with a mount "
            "namespace (unshare --mount), which needs root and util-linux's unshare"
        )
    server, _ = devserver.ensure_running(flowat_home / "temporal")
    made: list[Host] = []

    def make(**extra: str) -> tuple[Host, Host]:
        shared = {
            "FLOWAT_TEMPORAL_ADDRESS": server.address,
            "FLOWAT_DATABASE_URL": new_postgres_database("flowat_two_hosts"),
            "FLOWAT_MASTER_KEY": encode_key(new_key()),
            "FLOWAT_TASK_QUEUE": f"shared-{uuid.uuid4().hex[:10]}",
            **extra,
        }
        a, b = Host("a", tmp_path, shared), Host("b", tmp_path, shared)
        a.hidden, b.hidden = [b.folder], [a.folder]
        made.extend([a, b])
        return a, b

    yield make
    for host in made:
        host.stop()


# -- S3 on loopback -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server in a child process on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _until(lambda: _listening(port) or server.poll() is not None, 60, "moto's S3 server")
        assert server.poll() is None, "moto's S3 server exited at start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _s3_settings(endpoint: str) -> dict[str, str]:
    import boto3

    bucket = f"flowat-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    return {
        "FLOWAT_ARTIFACTS_URL": f"s3://{bucket}/hosts",
        "FLOWAT_ARTIFACTS_ENDPOINT": endpoint,
        "FLOWAT_ARTIFACTS_REGION": "us-east-1",
        "FLOWAT_ARTIFACTS_ACCESS_KEY_ID": S3_KEY,
        "FLOWAT_ARTIFACTS_SECRET_ACCESS_KEY": S3_SECRET,
    }


# -- the scenario -------------------------------------------------------------------------

_MAKE = """%%flowat step make --timeout 120s --retries 3
import json, os, time
import numpy as np
import pandas as pd
import flowat_kernel as flowat
made_by = os.environ.get("FLOWAT_WORKER_NAME")
made_attempt = flowat.current_step().attempt
if hold and made_attempt == 1:
    # Tell the test who runs this attempt, then wait for it to kill that worker.
    with open(os.path.join(probe, "tmp"), "w") as f:
        json.dump({"who": made_by, "pid": os.getpid()}, f)
    os.rename(os.path.join(probe, "tmp"), os.path.join(probe, "attempt-1.json"))
    time.sleep(600)
frame = pd.DataFrame({"x": np.arange(rows, dtype="float64"), "y": np.full(rows, 0.5)})
"""

_CHECK = """%%flowat step check --queue {queue} --retries 3
import os
read_by = os.environ.get("FLOWAT_WORKER_NAME")
seen = {{"rows": len(frame), "x": float(frame["x"].sum()), "y": float(frame["y"].sum()),
        "bytes": int(frame.memory_usage(index=False).sum())}}
"""

_HOST_A = """
import json, sys, time
import flowat_kernel as flowat
notebook, workflow, probe, hold = sys.argv[1:]
flowat.publish(workflow, notebook=notebook)
run = flowat.run(workflow, parameters={"probe": probe, "hold": hold}, worker="never",
                 timeout=300)
outputs = flowat.get_run(run.run_id).outputs if run.status == "succeeded" else {}
frame = outputs.get("make", {}).pop("frame", None)
# A's analytics: B's and A's workers flush their step events every 2 s.
query = f"SELECT step, status, attempts FROM steps WHERE run_id = '{run.run_id}'"
deadline = time.monotonic() + 120
while True:
    steps = {s: [status, n] for s, status, n in flowat.analytics.sql(query).fetchall()}
    if {v[0] for v in steps.values()} == {"succeeded"} and len(steps) == 2:
        break
    if time.monotonic() > deadline:
        break
    time.sleep(0.5)
from flowat_kernel.widgets.dashboard import Dashboard
recent = list(Dashboard(refresh_seconds=None).data()["recent"]["run_id"])
print(json.dumps({"run_id": run.run_id, "status": run.status, "error": run.error,
                  "outputs": outputs, "frame": frame is not None and {
                      "rows": len(frame), "x": float(frame["x"].sum()),
                      "bytes": int(frame.memory_usage(index=False).sum())},
                  "analytics": steps, "dashboard_recent": recent}, default=str))
"""

_FRAME = {"rows": ROWS, "x": float(ROWS * (ROWS - 1) // 2), "bytes": ROWS * 16}


def _notebook(host: Host, queue: str) -> Path:
    path = host.folder / "pipeline.ipynb"
    parameters = new_code_cell(f"rows = {ROWS}\nprobe = ''\nhold = False")
    parameters.metadata["tags"] = ["parameters"]
    document = new_notebook(
        cells=[parameters, new_code_cell(_MAKE), new_code_cell(_CHECK.format(queue=queue))]
    )
    nbformat.write(document, path)
    return path


def _artifact_files(home: Path) -> list[Path]:
    runs = home / "artifacts" / "runs"
    return [p for p in runs.rglob("*") if p.is_file()] if runs.exists() else []


def _attempts(database_url: str, run_id: str) -> tuple[str | None, dict[str, int]]:
    """The run's task queue and each step's attempts, as the shared store holds them."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            queue = conn.execute(
                sa.text("SELECT task_queue FROM runs WHERE id = :r"), {"r": run_id}
            ).scalar_one()
            rows = conn.execute(
                sa.text("SELECT step, attempts FROM step_runs WHERE run_id = :r"), {"r": run_id}
            ).all()
    finally:
        engine.dispose()
    return queue, {step: attempts for step, attempts in rows}


@pytest.mark.postgres
@pytest.mark.parametrize("storage", ["database", "s3"])
def test_a_run_published_on_a_runs_on_b_and_a_reads_its_frame(
    storage: str,
    hosts: Callable[..., tuple[Host, Host]],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    """A publishes and starts the run; B's workers run it; A's worker and A read the frame.

    With artifacts in PostgreSQL, B's worker is killed mid-step and the step moves to
    B's other worker; with artifacts in S3, B has one worker and nothing is killed.
    """
    kill = storage == "database"
    if storage == "s3":
        extra = _s3_settings(request.getfixturevalue("s3_endpoint"))
    else:
        extra = {"FLOWAT_ARTIFACTS_URL": "database"}
    # Short heartbeats (set by A, which starts the run): B's dead worker is noticed 3 s
    # after its last one.
    a, b = hosts(FLOWAT_HEARTBEAT_TIMEOUT="3", **extra)
    a_queue = f"host-a-{uuid.uuid4().hex[:8]}"
    workflow = f"two_hosts_{uuid.uuid4().hex[:8]}"
    probe = tmp_path / "probe"
    probe.mkdir()

    a.start_worker("--queue", a_queue, name="a-1")  # only A's queue, not the run's
    b_names = ["b-1", "b-2"] if kill else ["b-1"]
    for name in b_names:
        b.start_worker(name=name)  # the shared queue, which the run's workflow uses
    notebook = _notebook(a, a_queue)
    for name in b_names:
        b.wait_polling(name)
    a.wait_polling("a-1")
    _assert_cannot_see(b, a)
    _assert_cannot_see(a, b)

    # A's own process publishes, starts the run without a worker of its own, waits for
    # it and reads the frame through get_run(...).outputs.
    on_a = a.start(
        [sys.executable, "-c", _HOST_A, str(notebook), workflow, str(probe), str(kill)],
        "run",
    )
    victim = None
    if kill:
        marker = probe / "attempt-1.json"
        _until(lambda: marker.exists() or on_a.poll() is not None, 180, "make's first attempt on B")
        assert on_a.poll() is None, a.log("run").read_text()[-3000:]
        victim = json.loads(marker.read_text())
        assert victim["who"] in b_names
        b.workers[victim["who"]].send_signal(signal.SIGKILL)  # mid-step, no goodbye
        b.workers[victim["who"]].wait(10)
        # The step's own process (forked for the step) goes with its worker.
        _until(lambda: not Path(f"/proc/{victim['pid']}").exists(), 30, "the step's process")
    out, _ = on_a.communicate(timeout=300)
    assert on_a.returncode == 0, a.log("run").read_text()[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "succeeded", result

    queue, attempts = _attempts(a.env["FLOWAT_DATABASE_URL"], result["run_id"])
    assert queue == a.env["FLOWAT_TASK_QUEUE"]  # the shared queue: A ran no worker for it
    # The frame was made on B, by the worker that survived ...
    make = result["outputs"]["make"]
    assert make["made_by"] in b_names
    if kill:
        assert victim is not None
        assert make["made_by"] != victim["who"]
        assert make["made_attempt"] >= 2 and attempts["make"] >= 2
    else:
        assert make["made_attempt"] == 1 and attempts["make"] == 1
    # ... read by the step routed to A's queue, on A's worker ...
    check = result["outputs"]["check"]
    assert check["read_by"] == "a-1"
    assert check["seen"] == {**_FRAME, "y": ROWS * 0.5}
    # ... and by A itself through get_run(...).outputs.
    assert result["frame"] == _FRAME
    # A's analytics and dashboard show the steps that ran on B (and on A's worker).
    assert result["analytics"]["make"][0] == "succeeded"
    assert result["analytics"]["make"][1] == attempts["make"]
    assert result["analytics"]["check"] == ["succeeded", 1]
    assert result["run_id"] in result["dashboard_recent"]

    # The frame lives in the shared storage, not in either home's folder.
    assert _artifact_files(a.home) == [] and _artifact_files(b.home) == []
    _assert_cannot_see(b, a)
    logs = "".join(p.read_text(errors="replace") for p in a.logs.iterdir())
    assert S3_SECRET not in logs + out


_STARTER = """
import json, sys
from concurrent.futures import ThreadPoolExecutor
import flowat_kernel as flowat
from flowat_kernel.testing import cells
workflow, right, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
flowat.publish(workflow, cells=cells(
    "%%flowat step a\\nimport os\\na_who = os.environ['FLOWAT_WORKER_NAME']\\na_out = n",
    f"%%flowat step b --queue {right}\\nimport os\\n"
    "b_who = os.environ['FLOWAT_WORKER_NAME']\\nb_out = a_out * 2",
    parameters="n = 0",
))
def start(i):
    return flowat.run(workflow, parameters={"n": i}, wait=False, worker="never").run_id
with ThreadPoolExecutor(8) as pool:  # starting one by one takes longer than running
    started = list(pool.map(start, range(count)))
print(json.dumps([flowat.wait(run_id, timeout=600).status for run_id in started]))
"""


def _value(outputs: dict[str, Any], name: str) -> Any:
    """An exported value as the store records it (small values inline)."""
    return outputs[name]["inline"]


@pytest.mark.postgres
def test_three_workers_on_two_queues_run_200_runs_each_step_on_its_queue(
    hosts: Callable[..., tuple[Host, Host]],
) -> None:
    """B's two workers take the shared queue (workflows and step a), A's one the other.

    A process on A starts 200 runs with no worker of its own. Every step exports the
    name of the worker that ran it; the shared store must hold each run once, each
    with both steps succeeded, every step on a worker of its queue. (A step may have
    been retried: on a loaded machine a worker can miss a heartbeat.)
    """
    a, b = hosts(FLOWAT_STEP_EXECUTOR="thread")
    right = f"right-{uuid.uuid4().hex[:8]}"
    workflow = f"queues_{uuid.uuid4().hex[:8]}"
    b.start_worker(name="left-1")
    b.start_worker("--max-concurrent-steps", "4", name="left-2")
    a.start_worker("--queue", right, name="right-1")
    for host, name in ((b, "left-1"), (b, "left-2"), (a, "right-1")):
        host.wait_polling(name)

    on_a = a.start([sys.executable, "-c", _STARTER, workflow, right, "200"], "starter")
    out, _ = on_a.communicate(timeout=600)
    assert on_a.returncode == 0, a.log("starter").read_text()[-3000:]
    assert json.loads(out.strip().splitlines()[-1]) == ["succeeded"] * 200

    engine = sa.create_engine(a.env["FLOWAT_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT r.id, r.status, r.parameters, s.step, s.status, s.attempts, "
                    "s.outputs FROM runs r JOIN workflows w ON w.id = r.workflow_id "
                    "LEFT JOIN step_runs s ON s.run_id = r.id WHERE w.name = :w"
                ),
                {"w": workflow},
            ).all()
    finally:
        engine.dispose()
    runs: dict[str, dict[str, Any]] = {}
    retried = 0
    for run_id, status, parameters, step, step_status, attempts, outputs in rows:
        assert status == "succeeded" and step_status == "succeeded", (run_id, step)
        retried += attempts > 1  # a step whose worker went quiet under load, run again
        run = runs.setdefault(run_id, {"n": parameters["n"]})
        run[step] = outputs
    assert sorted(run["n"] for run in runs.values()) == list(range(200))  # each run once
    ran_on: dict[str, set[str]] = {"a": set(), "b": set()}
    for run in runs.values():
        assert set(run) == {"n", "a", "b"}
        a_out, b_out = _value(run["a"], "a_out"), _value(run["b"], "b_out")
        assert (a_out, b_out) == (run["n"], 2 * run["n"])
        ran_on["a"].add(_value(run["a"], "a_who"))
        ran_on["b"].add(_value(run["b"], "b_who"))
    assert ran_on["a"] <= {"left-1", "left-2"}, ran_on
    assert ran_on["b"] == {"right-1"}, ran_on
    print(f"{retried} of 400 steps were retried")
