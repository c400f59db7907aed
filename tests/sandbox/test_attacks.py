"""Attacks on sandboxed code steps, run for real through the launcher (no Temporal).

Each attack must be contained with a clear error (a ``SandboxError`` naming the limit,
or the code's own error where that is the natural outcome), leave no process of the
sandbox's uid behind, and the next sandboxed step in this process must work.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flowat_kernel as flowat
from flowat_kernel.engine.executor import ExecutionResult
from flowat_kernel.sandbox import (
    SandboxedCodeError,
    SandboxError,
    SandboxLimits,
    detect_isolation,
    run_sandboxed,
)
from flowat_kernel.spec import StepSpec
from flowat_kernel.testing import LoopbackHTTPServer, Reply

UID = 65534
NAMESPACES = detect_isolation().namespaces

pytestmark = pytest.mark.skipif(
    not NAMESPACES, reason=f"no namespaces here ({detect_isolation().reason})"
)


def step(source: str, *exports: str, **fields: Any) -> StepSpec:
    return StepSpec(name="attack", source=source, exports=exports, **fields)


def run(
    source: str, *exports: str, inputs: dict[str, Any] | None = None, **options: Any
) -> ExecutionResult:
    fields = {k: options.pop(k) for k in ("allow_network",) if k in options}
    options.setdefault("timeout", 30)
    return run_sandboxed(step(source, *exports, **fields), inputs or {}, **options)


def set_subreaper(on: int) -> None:
    """``prctl(PR_SET_CHILD_SUBREAPER, on)`` on this process."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, on, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _status(pid: str) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def sandbox_processes() -> list[int]:
    """Processes of the sandbox's uid that descend from this test process.

    Only this process's own: a sandboxed step of a test on another xdist worker is not
    a leak of this one. Orphans cannot slip out of the count, since this process is a
    subreaper while the module runs (``adopting``): they are reparented to it.
    """
    me = str(os.getpid())
    parents: dict[str, str] = {}
    ours = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        status = _status(entry)
        if not status:
            continue
        parents[entry] = status["PPid"].strip()
        if int(status["Uid"].split()[0]) == UID:
            ours.append(entry)
    found = []
    for pid in ours:
        ancestor, seen = parents.get(pid), 0
        while ancestor and ancestor not in ("0", "1") and seen < 64:
            if ancestor == me:
                found.append(int(pid))
                break
            ancestor, seen = parents.get(ancestor), seen + 1
    return found


def _reap_adopted() -> None:
    """Reap the sandbox uid's orphans that ended after being reparented to this process."""
    for entry in os.listdir("/proc"):
        status = _status(entry) if entry.isdigit() else {}
        if (
            status
            and status["PPid"].strip() == str(os.getpid())
            and status["State"].strip().startswith("Z")
            and int(status["Uid"].split()[0]) == UID
        ):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(int(entry), os.WNOHANG)


@pytest.fixture(scope="module", autouse=True)
def adopting() -> Iterator[None]:
    """This process adopts its descendants' orphans while the module's attacks run."""
    set_subreaper(1)
    try:
        yield
    finally:
        set_subreaper(0)
        _reap_adopted()


@pytest.fixture(autouse=True)
def contained() -> Iterator[None]:
    """After each test: nothing of the sandbox's uid is left, and a new step works."""
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        _reap_adopted()
        if not sandbox_processes():
            break
        time.sleep(0.05)
    assert sandbox_processes() == [], "a sandboxed process outlived its step"
    result = run("after = 40 + 2", "after")
    assert result.exports == {"after": 42}


@pytest.fixture(scope="module")
def home_with_secrets(flowat_home: Path) -> dict[str, Any]:
    """A real FLOWAT_HOME: metadata database and vault key file, with one secret set."""
    canary = f"canary-{os.urandom(8).hex()}"
    flowat.set_secret(f"attack_canary_{os.getpid()}", canary)
    key_file = flowat_home / "vault" / "master-keys.json"
    database = flowat_home / "flowat.db"
    assert key_file.is_file() and database.is_file()
    return {"home": flowat_home, "key_file": key_file, "database": database, "canary": canary}


def test_isolation_is_said_in_the_log() -> None:
    result = run("x = 1", "x")
    first = result.logs.splitlines()[0]
    assert first.startswith("[sandbox] isolation: pid+net+mount namespaces (unshare), uid 65534")
    assert "rlimits cpu=60s mem=1GiB nproc=64 nofile=256 fsize=256MiB" in first
    assert "wall clock 30s" in first


def test_environment_holds_nothing_of_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWAT_CANARY_SETTING", "flowat-canary-1b2c")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-canary-9f8e")
    source = (
        "import os\n"
        "def read(path):\n"
        "    try:\n"
        "        return open(path, 'rb').read().decode(errors='replace')\n"
        "    except OSError as exc:\n"
        "        return f'{type(exc).__name__}'\n"
        "names = sorted(os.environ)\n"
        "own = read('/proc/self/environ')\n"
        "first = read('/proc/1/environ')\n"
        "parent = read(f'/proc/{os.getppid()}/environ')\n"
        "worker = read(f'/proc/{worker_pid}/environ')\n"
        "uid = os.getuid()\n"
    )
    result = run(
        source,
        "names",
        "own",
        "first",
        "parent",
        "worker",
        "uid",
        inputs={"worker_pid": os.getpid()},
    )
    seen = result.exports
    assert seen["names"] == ["HOME", "LANG", "PATH", "TMPDIR"]
    assert seen["uid"] == UID
    everything = repr(seen) + result.logs.split("\n", 1)[1]
    assert "canary" not in everything and "FLOWAT_" not in everything
    assert "HOME=/tmp" in seen["own"]
    # The worker is outside the step's PID namespace: its pid is not there (or is
    # another process of the namespace).
    assert "aws-canary" not in seen["worker"]


def test_flowat_home_key_file_and_database_are_out_of_reach(
    home_with_secrets: dict[str, Any],
) -> None:
    home, key_file, database = (home_with_secrets[k] for k in ("home", "key_file", "database"))
    source = (
        "import os\n"
        "try:\n"
        "    listing = sorted(os.listdir(home))\n"
        "except OSError as exc:\n"
        "    listing = type(exc).__name__\n"
        "try:\n"
        "    key = open(key_file).read()\n"
        "except OSError as exc:\n"
        "    key = type(exc).__name__\n"
        "try:\n"
        "    import sqlite3\n"
        "    rows = sqlite3.connect(f'file:{database}?mode=ro', uri=True).execute(\n"
        "        'select name from sqlite_master').fetchall()\n"
        "    db = str(rows)\n"
        "except Exception as exc:\n"
        "    db = type(exc).__name__\n"
        "print(key, db)\n"
        "data = open(key_file).read()\n"
    )
    inputs = {"home": str(home), "key_file": str(key_file), "database": str(database)}
    with pytest.raises(SandboxedCodeError) as caught:
        run(source, "listing", "key", "db", inputs=inputs, hidden=[home])
    error = caught.value
    assert error.exc_type == "FileNotFoundError"
    assert error.cell_line == 19
    secret_bytes = key_file.read_text()
    assert secret_bytes not in error.logs + error.trace + error.exc_message
    assert home_with_secrets["canary"] not in error.logs
    assert "FileNotFoundError OperationalError" in error.logs
    # Without hiding, the uid alone still cannot read them (a 0700 folder, a 0600 key).
    with pytest.raises(SandboxedCodeError) as again:
        run(source, "listing", inputs=inputs)
    assert again.value.exc_type in ("PermissionError", "FileNotFoundError")
    assert secret_bytes not in again.value.logs


def test_fork_bomb_is_contained_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(SandboxError) as caught:
        run(
            "import os\nwhile True:\n    os.fork()\n",
            limits=SandboxLimits(processes=32),
            timeout=20,
        )
    assert caught.value.limit == "processes"
    assert "process limit of 32" in caught.value.exc_message
    assert "FLOWAT_SANDBOX_PROCESSES" in caught.value.exc_message
    assert time.monotonic() - started < 10
    assert caught.value.retryable is False


def test_ten_gigabyte_allocation() -> None:
    with pytest.raises(SandboxError) as caught:
        run("blob = bytearray(10 * 1024**3)", "blob")
    assert caught.value.limit == "memory"
    assert "memory limit of 1GiB exceeded; raise FLOWAT_SANDBOX_MEMORY" in caught.value.exc_message


def test_infinite_loop_hits_the_cpu_limit() -> None:
    started = time.monotonic()
    with pytest.raises(SandboxError) as caught:
        run("while True:\n    pass\n", limits=SandboxLimits(cpu_seconds=1), timeout=30)
    assert caught.value.limit == "cpu"
    assert "CPU limit of 1s exceeded" in caught.value.exc_message
    assert time.monotonic() - started < 10


def test_sleeping_forever_hits_the_wall_clock() -> None:
    started = time.monotonic()
    with pytest.raises(SandboxError) as caught:
        run("import time\nwhile True:\n    time.sleep(0.05)\n", timeout=1.5)
    assert caught.value.limit == "wall_clock"
    assert "wall-clock limit of 1.5s" in caught.value.exc_message
    assert 1.4 < time.monotonic() - started < 8


def test_gigabytes_of_output() -> None:
    source = (
        "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(4096):\n    sys.stdout.write(chunk)\n"
    )
    started = time.monotonic()
    with pytest.raises(SandboxError) as caught:
        run(source)
    assert caught.value.limit == "output"
    assert "output limit of 1MiB" in caught.value.exc_message
    assert time.monotonic() - started < 10
    assert caught.value.logs.endswith("[output truncated]\n")


def test_a_gigabyte_exported_value() -> None:
    with pytest.raises(SandboxError) as caught:
        run("big = 'x' * (1 << 30)", "big", limits=SandboxLimits(memory_bytes=2 << 30))
    assert caught.value.limit == "exports"
    assert (
        "export limit of 256MiB exceeded; raise FLOWAT_SANDBOX_EXPORTS" in caught.value.exc_message
    )


def test_forged_result_channel_is_capped() -> None:
    source = (
        "import os, sys\nfd = int(sys.argv[1])\n"
        "for _ in range(64):\n    os.write(fd, b'\\xff' * (1 << 20))\n"
    )
    with pytest.raises(SandboxError) as caught:
        run(source, limits=SandboxLimits(exports_bytes=1 << 20))
    assert caught.value.limit == "exports"


def test_forged_pickle_result_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    source = (
        "import json, os, pickle, struct, sys\n"
        "class Boom:\n"
        "    def __reduce__(self):\n"
        "        return (open, (marker, 'w'))\n"
        "blob = pickle.dumps(Boom())\n"
        "head = json.dumps({'status': 'ok', 'exports': {'y': {'pickle': 0}}, 'skipped': {},\n"
        "                   'blobs': 1}).encode()\n"
        "fd = int(sys.argv[1])\n"
        "os.write(fd, struct.pack('>Q', len(head)) + head + struct.pack('>Q', len(blob)) + blob)\n"
        "os._exit(0)\n"
    )
    result = run(source, "y", inputs={"marker": str(marker)})
    assert result.exports == {}
    assert "could not be read back" in result.skipped_exports["y"]
    assert not marker.exists()


def test_huge_file_hits_the_file_size_limit() -> None:
    with pytest.raises(SandboxError) as caught:
        run(
            "open('big.bin', 'wb').write(b'0' * (64 << 20))",
            limits=SandboxLimits(file_size_bytes=16 << 20),
        )
    assert caught.value.limit == "file_size"
    assert "file-size limit of 16MiB" in caught.value.exc_message


def test_many_files_fill_only_the_private_scratch_space() -> None:
    source = "for i in range(8):\n    open(f'part{i}.bin', 'wb').write(b'0' * (15 << 20))\n"
    with pytest.raises(SandboxError) as caught:
        run(source, limits=SandboxLimits(file_size_bytes=16 << 20))
    assert caught.value.limit == "disk"


def test_fd_exhaustion() -> None:
    with pytest.raises(SandboxError) as caught:
        run(
            "files = [open('/dev/null') for _ in range(100_000)]",
            limits=SandboxLimits(open_files=64),
        )
    assert caught.value.limit == "open_files"
    assert "open-file limit of 64" in caught.value.exc_message


def test_network_only_with_allow_network_and_never_to_loopback() -> None:
    source = (
        "import urllib.request\n"
        "body = urllib.request.urlopen(url + '/ping', timeout=5).read().decode()\n"
    )
    with LoopbackHTTPServer(lambda request: Reply(body="pong")) as server:
        with pytest.raises(SandboxedCodeError) as caught:
            run(source, "body", inputs={"url": server.url})
        assert caught.value.exc_type == "URLError"
        # its own loopback: nothing listens there
        assert "Connection refused" in caught.value.exc_message
        assert server.requests == []
        # --allow-network goes out through the egress proxy, which never reaches loopback
        with pytest.raises(SandboxedCodeError) as caught:
            run(source, "body", inputs={"url": server.url}, allow_network=True)
        assert caught.value.exc_type == "HTTPError"
        assert "HTTP Error 403" in caught.value.exc_message
        assert "outbound network through the egress proxy" in caught.value.logs.splitlines()[0]
        assert server.requests == []


def test_own_error_is_a_normal_code_error() -> None:
    with pytest.raises(SandboxedCodeError) as caught:
        run("x = 1\ny = x / 0\n", "y")
    error = caught.value
    assert (error.exc_type, error.exc_message, error.cell_line) == (
        "ZeroDivisionError",
        "division by zero",
        3,
    )
    assert "ZeroDivisionError" in error.trace and error.retryable is None
    assert error.logs.startswith("[sandbox] isolation:")


def test_only_named_secrets_reach_the_code() -> None:
    value = f"tok-{os.urandom(6).hex()}"
    source = (
        "token = flowat.secret('api_token').reveal()\n"
        "print('token is', token)\n"
        "length = len(token)\n"
        "handle = flowat.secret('api_token')\n"
        "try:\n"
        "    flowat.secret('other').reveal()\n"
        "except PermissionError as exc:\n"
        "    refused = str(exc)\n"
        "import flowat_kernel\n"
        "same = flowat_kernel.secret('api_token').reveal() == token\n"
    )
    result = run(source, "length", "refused", "handle", "same", secrets={"api_token": value})
    assert result.exports["length"] == len(value)
    assert "add --secret other to its %%flowat step line" in result.exports["refused"]
    assert result.exports["handle"] == flowat.secret("api_token")
    assert result.exports["same"] is True
    assert value not in result.logs and "token is [secret:api_token]" in result.logs


class _Cancelled(Exception):
    """Stands in for Temporal's CancelledError, raised in the step's thread the same way."""


def test_cancelling_the_thread_kills_the_child() -> None:
    outcome: list[BaseException] = []

    def target() -> None:
        try:
            run("import time\nwhile True:\n    time.sleep(0.05)\n", timeout=60)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    deadline = time.monotonic() + 10
    while not sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sandbox_processes(), "the sandboxed step never started"
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread.ident or 0), ctypes.py_object(_Cancelled)
    )
    thread.join(10)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], _Cancelled)


def test_rlimits_only_refuses_or_runs_as_the_unprivileged_uid() -> None:
    from flowat_kernel.sandbox.launcher import _needed_paths, _reachable_by_others

    blocked = _reachable_by_others(_needed_paths())
    if os.geteuid() == 0 and blocked:
        with pytest.raises(SandboxError) as caught:
            run("x = 1", "x", isolation="rlimits")
        assert caught.value.limit == "isolation"
        assert f"chmod o+x {blocked}" in caught.value.exc_message
    else:
        result = run("import os\nx = os.getuid()", "x", isolation="rlimits")
        assert "NO namespaces" in result.logs.splitlines()[0]
        assert result.exports["x"] == (UID if os.geteuid() == 0 else os.getuid())
