"""``flowat run --worker shared`` and ``flowat publish``, handed to a live ``flowat worker``.

A run that executes on the shared queue does not need this process to import the
store, pydantic's models or Temporal's client, nor does publishing a notebook need it
to import the store and the compiler: a ``flowat worker`` of the same installation on
this machine already holds them. Each such worker listens on a Unix socket in the
private home (:mod:`flowat_kernel.cli.handoff_door`); ``flowat run`` connects, sends
the command, prints what comes back and exits with the run's code, with nothing but
the standard library imported.

The hand-off is an optimisation only: the command falls back to starting the run
itself (the same result, slower) when no worker of the same installation answers
within :data:`HELLO_SECONDS`, when ``FLOWAT_HANDOFF=off``, or when a worker goes
away before it accepted the run. A run is started at most once: the worker says hello
before the command is sent, and the command is sent only once.

The protocol is one JSON document per line. Worker: ``{"hello": 1}``. Command:
``{"command": "run"}`` with the run's workflow, version, parameters (the strings of
``-p``), wait and timeout, or ``{"command": "publish"}`` with the notebook's absolute
path, the name, ``on_failure`` and ``queue``; either with the caller's
``FLOWAT_API_KEY`` when set (the worker authenticates it as the REST API does; without
one, the caller is the local user, as in this process). Worker, then: ``{"stderr":
TEXT}`` lines while a run goes, and one ``{"run": DOCUMENT}``, ``{"published":
{"text", "document"}}``, ``{"error": {"message": ..., "code": N}}``, or ``{"declined":
REASON}`` (nothing done: the command does it itself).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from flowat_kernel.config import Settings, settings

__all__ = [
    "HANDOFF_VARIABLE",
    "HELLO_SECONDS",
    "Reply",
    "enabled",
    "fingerprint",
    "handoff_publish",
    "handoff_run",
    "socket_folder",
    "wanted",
]

#: ``off`` disables the hand-off (runs on the shared queue are started by the command).
HANDOFF_VARIABLE = "FLOWAT_HANDOFF"

#: How long a worker's socket may take to say hello before the command starts the run
#: itself (a worker that is busy starting, or a socket left by a worker that died).
HELLO_SECONDS = 1.0

_PROTOCOL = 1


def fingerprint(config: Settings) -> str:
    """What a command and a worker must agree on to share runs: one installation.

    The metadata store, the Temporal service and namespace, the shared queue and the
    local user; a worker's socket is named after it, so a command configured otherwise
    (another ``FLOWAT_OWNER``, another database) never finds it.
    """
    parts = (
        str(_PROTOCOL),
        config.database_url,
        config.temporal_address or "embedded",
        config.temporal_namespace,
        config.task_queue,
        config.owner,
    )
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def socket_folder(config: Settings) -> Path:
    """Where the workers of this installation keep their sockets (in the private home)."""
    return config.home / "workers"


def enabled() -> bool:
    """Whether commands may be handed to a worker at all (``FLOWAT_HANDOFF`` is not off)."""
    return os.environ.get(HANDOFF_VARIABLE, "").strip().lower() not in ("off", "0", "false", "no")


def wanted(worker: str) -> bool:
    """Whether ``flowat run --worker WORKER`` may be handed to a worker."""
    if not enabled():
        return False
    if worker == "shared":
        return True
    return worker == "auto" and settings().run_on == "shared"


class Reply:
    """A worker's answer, read line by line."""

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self._lines = connection.makefile("r", encoding="utf-8")

    def messages(self) -> Iterator[dict[str, Any]]:
        """Each JSON document the worker sends, until it closes the connection."""
        for line in self._lines:
            if line.strip():
                yield json.loads(line)


def _worker_sockets(config: Settings) -> list[Path]:
    """The sockets of this installation's workers, newest first."""
    folder = socket_folder(config)
    try:
        found = list(folder.glob(f"{fingerprint(config)}-*.sock"))
    except OSError:
        return []
    return sorted(found, key=lambda path: _mtime(path), reverse=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _greeted(path: Path) -> socket.socket | None:
    """A connection to the worker at ``path`` once it said hello, or ``None``."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(HELLO_SECONDS)
    try:
        connection.connect(str(path))
        hello = b""
        while not hello.endswith(b"\n") and len(hello) < 256:
            chunk = connection.recv(256 - len(hello))
            if not chunk:
                break
            hello += chunk
        if json.loads(hello or b"{}").get("hello") != _PROTOCOL:
            raise OSError("not a FlowAt worker's hello")
    except (OSError, ValueError):
        connection.close()
        return None
    connection.settimeout(None)
    return connection


def handoff_run(
    workflow: str,
    *,
    version: int | None,
    parameters: Mapping[str, str],
    wait: bool,
    timeout: float | None,
    progress: bool,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None] | None:
    """Have a live worker of this installation start (and wait for) a run.

    Returns:
        ``None`` when no worker took the command (start the run here instead);
        otherwise ``(run document, None)`` or ``(None, error)``, error being the
        worker's ``{"message", "code"}``. Progress lines go to standard error.

    """
    command = {
        "command": "run",
        "workflow": workflow,
        "version": version,
        "parameters": dict(parameters),
        "wait": wait,
        "timeout": timeout,
        "progress": progress,
    }
    # The worker went away after it took the command: the run may have started, so it
    # is not started again here.
    lost = (
        "the flowat worker that took this run stopped answering before the run ended; "
        "see `flowat runs` for its state"
    )
    return _hand_over(command, "run", lost)


def handoff_publish(
    notebook: Path, *, name: str, on_failure: str | None, queue: str | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None] | None:
    """Have a live worker of this installation compile and publish ``notebook``.

    The worker reads the notebook (and the prompt files beside it) at its absolute
    path, as this process would: it runs as the same user on the same machine. One that
    cannot see the file declines, and the command publishes it itself.

    Returns:
        ``None`` when no worker took the command (publish here instead); otherwise
        ``(published, None)``, published being ``{"text", "document"}`` (what ``flowat
        publish`` prints, without and with ``--json``), or ``(None, error)``.

    """
    command = {
        "command": "publish",
        "notebook": str(notebook.absolute()),
        "name": name,
        "on_failure": on_failure,
        "queue": queue,
    }
    lost = (
        "the flowat worker that took this publish stopped answering; see `flowat versions "
        f"{name}` for whether a version was made"
    )
    return _hand_over(command, "published", lost)


def _hand_over(
    command: dict[str, Any], result: str, lost: str
) -> tuple[dict[str, Any] | None, dict[str, Any] | None] | None:
    """Send ``command`` to the first worker that says hello; its ``result`` or error."""
    config = settings()
    command["api_key"] = os.environ.get("FLOWAT_API_KEY", "").strip() or None
    for path in _worker_sockets(config):
        connection = _greeted(path)
        if connection is None:
            continue
        with connection:
            connection.sendall(json.dumps(command).encode() + b"\n")
            for message in Reply(connection).messages():
                if "stderr" in message:
                    sys.stderr.write(str(message["stderr"]))
                    sys.stderr.flush()
                elif result in message:
                    return message[result], None
                elif "error" in message:
                    return None, message["error"]
                elif "declined" in message:  # nothing was done: do it here
                    return None
        return None, {"message": lost, "code": 1}
    return None
