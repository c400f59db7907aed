"""``flowat run --worker shared`` and ``flowat publish`` handed to a live ``flowat worker``.

A real ``flowat worker`` process (the session's Temporal dev server, the session's
store) serves the socket; the commands are real ``flowat`` processes. Each test checks
what a person sees (output, exit code) against what the store recorded, and the
attacks check that nothing is handed over that the command itself could not do.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowat_kernel.access import Role, local_principal
from flowat_kernel.cli.handoff import fingerprint, socket_folder
from flowat_kernel.config import Settings, settings
from flowat_kernel.runtime import get_runtime
from flowat_kernel.store import RunRecord
from tests.server.helpers import new_org, publish

#: Runs ``flowat`` as its console script does, then says which heavy modules it loaded.
COMMAND = textwrap.dedent(
    """
    import json, sys
    from flowat_kernel.cli.main import main
    code = main(sys.argv[1:])
    heavy = ("sqlalchemy", "temporalio", "pydantic", "pandas", "pyarrow")
    sys.stderr.write("LOADED " + json.dumps([m for m in heavy if m in sys.modules]) + "\\n")
    sys.exit(code)
    """
)


class Worker:
    """A ``flowat worker`` process on its own shared queue, and how to reach it."""

    def __init__(self, home: Path, queue: str) -> None:
        self.env = {**os.environ, "FLOWAT_HOME": str(home), "FLOWAT_TASK_QUEUE": queue}
        self.env.pop("FLOWAT_API_KEY", None)
        self.env.pop("FLOWAT_HANDOFF", None)
        self.log = home / f"worker-{queue}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "flowat_kernel.cli.main", "worker"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while not self.socket().exists():
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "the worker made no hand-off socket"
            time.sleep(0.1)

    def socket(self) -> Path:
        assert self.process is not None
        config = self.settings()
        return socket_folder(config) / f"{fingerprint(config)}-{self.process.pid}.sock"

    def settings(self) -> Settings:
        saved = dict(os.environ)
        os.environ.update(self.env)
        try:
            return settings()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def stop(self, sig: int = signal.SIGINT) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(60)

    def flowat(
        self, *args: str, cwd: Path | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """A ``flowat`` command of this installation (``env`` added to its environment)."""
        return subprocess.run(
            [sys.executable, "-c", COMMAND, *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=180,
            cwd=cwd,
        )


def loaded(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The heavy modules the command loaded (its last line on standard error)."""
    line = [x for x in done.stderr.splitlines() if x.startswith("LOADED ")][-1]
    return list(json.loads(line[len("LOADED ") :]))


def runs_of(owner: str, workflow: str) -> list[RunRecord]:
    return list(get_runtime().store.list_runs(owner, workflow, 100))


@pytest.fixture(scope="module")
def worker(flowat_home: Path) -> Iterator[Worker]:
    running = Worker(flowat_home, f"handoff-{uuid.uuid4().hex[:8]}")
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def workflow(worker: Worker) -> str:
    name = f"handed_{uuid.uuid4().hex[:6]}"
    publish(name, owner=local_principal().owner)
    return name


def test_a_run_is_handed_to_the_live_worker(worker: Worker, workflow: str) -> None:
    done = worker.flowat("run", workflow, "-p", "n=21", "--worker", "shared", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["status"] == "succeeded"
    assert document["outputs"]["work"]["out"] == 42
    assert loaded(done) == [], "a handed-over run loads nothing heavy in the command"
    record = get_runtime().store.get_run(document["run_id"])
    assert record.trigger == "cli"
    assert record.owner == local_principal().owner
    assert record.task_queue == worker.env["FLOWAT_TASK_QUEUE"]


def test_text_output_and_progress_are_the_commands_own(worker: Worker, workflow: str) -> None:
    handed = worker.flowat("run", workflow, "-p", "n=2", "--worker", "shared")
    here = worker.flowat("run", workflow, "-p", "n=2", "--worker", "shared", FLOWAT_HANDOFF="off")
    assert handed.returncode == here.returncode == 0, handed.stderr + here.stderr
    assert loaded(handed) == [] and "sqlalchemy" in loaded(here)
    assert "  work.out = 4" in handed.stdout and "  work.out = 4" in here.stdout
    assert f"running {workflow}\n" in handed.stderr
    assert "  work: succeeded in " in handed.stderr  # progress, sent by the worker


def test_errors_say_the_same_and_exit_the_same(worker: Worker, workflow: str) -> None:
    for args in (("no_such_workflow",), (workflow, "-p", "nope=1"), (workflow, "-p", "n=x")):
        handed = worker.flowat("run", *args, "--worker", "shared")
        here = worker.flowat("run", *args, "--worker", "shared", FLOWAT_HANDOFF="off")
        assert handed.returncode == here.returncode == 2, handed.stderr + here.stderr
        message = [x for x in here.stderr.splitlines() if x.startswith("flowat: error:")]
        assert message and message[0] in handed.stderr.splitlines()


def test_a_failing_run_exits_1(worker: Worker) -> None:
    name = f"failing_{uuid.uuid4().hex[:6]}"
    publish(name, owner=local_principal().owner, body="out = 1 / (n - n)")
    done = worker.flowat("run", name, "--worker", "shared", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["status"] == "failed"
    assert loaded(done) == []


def test_a_key_acts_as_its_member_and_is_never_logged(worker: Worker) -> None:
    org = new_org("handoff")
    publish("door_flow", owner=org.slug)
    viewer, editor = org.keys[Role.VIEWER], org.keys[Role.EDITOR]
    refused = worker.flowat("run", "door_flow", "--worker", "shared", FLOWAT_API_KEY=viewer)
    assert refused.returncode == 2, refused.stderr
    assert "the viewer role may not use runs:write" in refused.stderr
    assert loaded(refused) == []  # refused by the worker, through the same door
    assert runs_of(org.slug, "door_flow") == []
    done = worker.flowat(
        "run", "door_flow", "-p", "n=3", "--worker", "shared", "--json", FLOWAT_API_KEY=editor
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outputs"]["work"]["out"] == 6
    assert [r.run_id for r in runs_of(org.slug, "door_flow")] == [json.loads(done.stdout)["run_id"]]
    assert loaded(done) == []
    log = worker.log.read_text()
    assert viewer not in log and editor not in log


def test_a_socket_that_never_answers_does_not_start_the_run_twice(
    worker: Worker, workflow: str
) -> None:
    owner = local_principal().owner
    before = len(runs_of(owner, workflow))
    silent = worker.socket().with_name(f"{fingerprint(worker.settings())}-999999.sock")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(silent))
        listener.listen()  # accepts into its backlog, never says hello
        os.utime(silent)  # the newest socket: tried first
        started = time.monotonic()
        done = worker.flowat("run", workflow, "--worker", "shared", "--json")
        waited = time.monotonic() - started
    silent.unlink()
    assert done.returncode == 0, done.stderr
    assert loaded(done) == [], "the live worker took it after the silent socket"
    assert len(runs_of(owner, workflow)) == before + 1
    assert waited >= 1.0  # it did wait for the silent one's hello


def test_another_installation_is_not_handed_over(worker: Worker, workflow: str) -> None:
    done = worker.flowat("run", workflow, "--worker", "shared", FLOWAT_OWNER="someone-else")
    # Another owner is another personal organization: the workflow is not there, and
    # the command found that out itself (the store loaded), not through the worker.
    assert done.returncode == 2, done.stderr
    assert "sqlalchemy" in loaded(done)


@pytest.mark.skipif(os.geteuid() != 0, reason="acting as another user needs root")
def test_another_user_is_refused_by_the_kernels_word(worker: Worker) -> None:
    """A process of another uid that reaches the socket is closed on before any hello.

    Not the sandbox's uid (65534): the sandbox tests count that uid's processes.

    The child keeps file-system access as root (``setfsuid``) so that the folder's
    0700 and the socket's 0600 let it connect: what refuses it is the worker's check of
    the peer's uid (``SO_PEERCRED``), which the kernel fills in.
    """
    probe = textwrap.dedent(
        f"""
        import ctypes, os, socket, sys
        libc = ctypes.CDLL(None, use_errno=True)
        os.setresgid(65533, 65533, 0)
        os.setresuid(65533, 65533, 0)
        libc.setfsuid(0)
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect({str(worker.socket())!r})
        print(repr(s.recv(100)))
        """
    )
    assert ctypes.CDLL(None).setfsuid  # the libc call the probe needs exists
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "b''"
    deadline = time.monotonic() + 10
    while "refused process" not in worker.log.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert "of uid 65533" in worker.log.read_text()


def test_a_dead_workers_socket_is_passed_over_and_cleaned(
    flowat_home: Path, worker: Worker, workflow: str
) -> None:
    doomed = Worker(flowat_home, worker.env["FLOWAT_TASK_QUEUE"])
    doomed.start()
    left = doomed.socket()
    doomed.stop(signal.SIGKILL)
    assert left.exists()
    os.utime(left)  # newest: tried first, refused, passed over
    done = worker.flowat("run", workflow, "--worker", "shared", "--json")
    assert done.returncode == 0, done.stderr
    assert loaded(done) == []
    again = Worker(flowat_home, worker.env["FLOWAT_TASK_QUEUE"])
    again.start()  # a new worker of the installation removes what the dead one left
    try:
        assert not left.exists()
    finally:
        again.stop()
    assert not again.socket().exists()  # and a stopped one removes its own


def test_the_socket_is_private(worker: Worker) -> None:
    path = worker.socket()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


# -- flowat publish ------------------------------------------------------------------


def notebook(folder: Path, *sources: str) -> Path:
    """A notebook file with a parameters cell and ``sources`` as code cells."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    cells = [new_code_cell("n = 1", metadata={"tags": ["parameters"]})]
    cells += [new_code_cell(source) for source in sources]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"nb_{uuid.uuid4().hex[:6]}.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    return path


def versions_of(owner: str, workflow: str) -> list[int]:
    """The version numbers of ``owner``'s ``workflow`` (none when never published)."""
    from flowat_kernel.errors import NotFoundError

    try:
        return [v.number for v in get_runtime().store.list_versions(owner, workflow)]
    except NotFoundError:
        return []


def test_publish_is_handed_over_and_prints_the_same(worker: Worker, tmp_path: Path) -> None:
    name = f"pub_{uuid.uuid4().hex[:6]}"
    path = notebook(tmp_path, "%%flowat step double\nout = n * 2")
    handed = worker.flowat("publish", str(path), "--name", name, "--json")
    assert handed.returncode == 0, handed.stderr
    assert loaded(handed) == [], "a handed-over publish loads nothing heavy in the command"
    document = json.loads(handed.stdout)
    stored = get_runtime().store.get_version(local_principal().owner, name)
    assert document == {
        "workflow": name,
        "version": stored.number,
        "created": True,
        "spec_hash": stored.spec_hash,
        "steps": ["double"],
    }
    # The same notebook again: unchanged, said the same way by the worker and here.
    again = worker.flowat("publish", str(path), "--name", name)
    here = worker.flowat("publish", str(path), "--name", name, FLOWAT_HANDOFF="off")
    assert again.returncode == here.returncode == 0, again.stderr + here.stderr
    assert loaded(again) == [] and "sqlalchemy" in loaded(here)
    assert again.stdout == here.stdout and "unchanged" in again.stdout


def test_a_relative_notebook_is_read_where_the_command_runs(worker: Worker, tmp_path: Path) -> None:
    name = f"pub_{uuid.uuid4().hex[:6]}"
    path = notebook(tmp_path / "work", "%%flowat step s\nout = n + 1")
    done = worker.flowat(
        "publish", path.name, "--name", name, "--on-failure", "continue", "--json", cwd=path.parent
    )
    assert done.returncode == 0, done.stderr
    assert loaded(done) == []
    stored = get_runtime().store.get_version(local_principal().owner, name)
    assert stored.spec.on_failure == "continue"  # the options travel with the command
    run = worker.flowat("run", name, "-p", "n=4", "--worker", "shared", "--json")
    assert json.loads(run.stdout)["outputs"]["s"]["out"] == 5


def test_publish_errors_say_the_same_and_exit_the_same(worker: Worker, tmp_path: Path) -> None:
    broken = notebook(tmp_path, "%%flowat step bad --retries nope\nout = 1")
    name = f"pub_{uuid.uuid4().hex[:6]}"
    handed = worker.flowat("publish", str(broken), "--name", name)
    here = worker.flowat("publish", str(broken), "--name", name, FLOWAT_HANDOFF="off")
    assert handed.returncode == here.returncode != 0, handed.stderr + here.stderr
    assert loaded(handed) == []
    message = [x for x in here.stderr.splitlines() if x.startswith("flowat: error:")]
    assert message and message[0] in handed.stderr.splitlines()
    assert versions_of(local_principal().owner, name) == []


def test_a_viewer_key_cannot_publish_through_the_worker(worker: Worker, tmp_path: Path) -> None:
    org = new_org("handpub")
    path = notebook(tmp_path, "%%flowat step s\nout = n")
    viewer, editor = org.keys[Role.VIEWER], org.keys[Role.EDITOR]
    refused = worker.flowat("publish", str(path), "--name", "door_pub", FLOWAT_API_KEY=viewer)
    assert refused.returncode == 2, refused.stderr
    assert "the viewer role may not use workflows:write" in refused.stderr
    assert loaded(refused) == []
    assert versions_of(org.slug, "door_pub") == []
    done = worker.flowat("publish", str(path), "--name", "door_pub", FLOWAT_API_KEY=editor)
    assert done.returncode == 0, done.stderr
    assert versions_of(org.slug, "door_pub") == [1]
    assert versions_of(local_principal().owner, "door_pub") == []
    log = worker.log.read_text()
    assert viewer not in log and editor not in log


def test_a_notebook_the_worker_cannot_see_is_declined(worker: Worker, tmp_path: Path) -> None:
    """Nothing is published by the worker; the command then publishes it itself."""
    with socket.socket(socket.AF_UNIX) as connection:
        connection.settimeout(30)
        connection.connect(str(worker.socket()))
        reply = connection.makefile("r", encoding="utf-8")
        assert json.loads(reply.readline()) == {"hello": 1}
        command = {"command": "publish", "notebook": str(tmp_path / "gone.ipynb"), "name": "x"}
        connection.sendall(json.dumps(command).encode() + b"\n")
        answer = json.loads(reply.readline())
    assert set(answer) == {"declined"}
    assert versions_of(local_principal().owner, "x") == []
