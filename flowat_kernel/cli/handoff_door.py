"""The worker's side of :mod:`flowat_kernel.cli.handoff`: runs and publishes handed over.

A ``flowat worker`` polling the shared queue listens on a Unix socket in the private
home (``FLOWAT_HOME/workers/FINGERPRINT-PID.sock``, the folder 0700, the socket 0600)
and starts the runs that ``flowat run --worker shared`` hands it, and publishes the
notebooks ``flowat publish`` hands it, through the same
:class:`~flowat_kernel.workspace.Workspace` door as every other face:

- only a process of the worker's own user may connect (the peer's uid, from the
  kernel, ``SO_PEERCRED``); anything else is closed without a word and logged;
- the caller acts as itself: the member of the ``FLOWAT_API_KEY`` it sent, checked on
  every command as the REST API checks it, else the local user as Owner of their
  personal organization, exactly as ``flowat run`` would in its own process;
- the run's trigger is ``cli``, as if the command had started it; a notebook is read
  at the absolute path the command sent (a worker that cannot see it declines, and the
  command publishes it itself);
- at most :data:`MAX_COMMANDS` commands are served at once; one more is closed before
  its hello, and its command then starts the run itself.

The key a command sends is never logged nor stored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import socketserver
import struct
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from flowat_kernel.cli.handoff import fingerprint, socket_folder
from flowat_kernel.config import Settings

if TYPE_CHECKING:
    from flowat_kernel.runtime import Runtime
    from flowat_kernel.workspace import Workspace

__all__ = ["MAX_COMMANDS", "HandoffDoor", "open_door"]

log = logging.getLogger(__name__)

#: Commands served at once; more are refused (their command starts its run itself).
MAX_COMMANDS = 64

#: What a command may ask for.
_COMMANDS = ("run", "publish")

#: The longest path a Unix socket may have on Linux (``sun_path`` less its NUL).
_MAX_SOCKET_PATH = 107


class _Lines:
    """A text stream whose writes go to the command as ``{"stderr": TEXT}`` lines."""

    def __init__(self, send: Any) -> None:
        self._send = send

    def write(self, text: str) -> int:
        self._send({"stderr": text})
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered."""


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        door = self.server.door
        if not door.admits(self.connection):
            return
        if not door.slots.acquire(blocking=False):
            return  # busy: the command starts its run itself
        try:
            self._serve(door)
        finally:
            door.slots.release()

    def _serve(self, door: HandoffDoor) -> None:
        self._send({"hello": 1})
        line = self.rfile.readline(1 << 20)
        if not line:
            return
        try:
            command = json.loads(line)
            if not isinstance(command, dict) or command.get("command") not in _COMMANDS:
                raise ValueError("unknown command")
        except ValueError:
            self._send({"error": {"message": "not a FlowAt command", "code": 2}})
            return
        kind = command["command"]
        if kind == "publish" and not Path(str(command.get("notebook"))).is_file():
            # Not visible to this worker (another mount, say): the command publishes it.
            self._send({"declined": "this worker cannot read the notebook"})
            return
        try:
            if kind == "run":
                reply = {"run": door.run(command, _Lines(self._send))}
            else:
                reply = {"published": door.publish(command)}
        except Exception as exc:  # reported to the command, as its own process would
            from flowat_kernel.errors import FlowAtError, exit_code

            if not isinstance(exc, FlowAtError):
                log.exception("a handed-over %s failed", kind)
            self._send({"error": {"message": str(exc), "code": exit_code(exc)}})
            return
        self._send(reply)

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self.wfile.write(json.dumps(message).encode() + b"\n")
            self.wfile.flush()
        except OSError:
            pass  # the command went away; the run goes on, as with --no-wait


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    door: HandoffDoor


class HandoffDoor:
    """The socket a worker serves hand-overs on (see the module's documentation)."""

    def __init__(self, runtime: Runtime, path: Path) -> None:
        self.runtime = runtime
        self.path = path
        self.slots = threading.BoundedSemaphore(MAX_COMMANDS)
        self._publishing = threading.Lock()  # one compile at a time (shared transformers)
        self._uid = os.geteuid()
        self._server = _Server(str(path), _Handler, bind_and_activate=False)
        self._server.door = self
        self._thread: threading.Thread | None = None

    def admits(self, connection: socket.socket) -> bool:
        """Whether the peer runs as this worker's user (logged when not)."""
        try:
            raw = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
            pid, uid, _ = struct.unpack("3i", raw)
        except OSError:
            return False
        if uid != self._uid:
            log.warning(
                "hand-off socket: refused process %d of uid %d (only uid %d may hand runs "
                "to this worker)",
                pid,
                uid,
                self._uid,
            )
            return False
        return True

    def _workspace(self, command: dict[str, Any]) -> Workspace:
        """The workspace of the command's caller (its key's member, else the local user)."""
        from flowat_kernel.access.service import access
        from flowat_kernel.workspace import Workspace
        from flowat_kernel.workspace.principals import principal_of

        runtime = self.runtime
        services = access(runtime)
        key = command.get("api_key")
        principal = principal_of(
            runtime.settings.owner,
            key if isinstance(key, str) else "",
            services.directory,
            services.keys,
        )
        return Workspace(runtime, principal)

    def publish(self, command: dict[str, Any]) -> dict[str, Any]:
        """Compile and publish the notebook a command names, as its caller.

        Returns:
            ``text`` and ``document``: what ``flowat publish`` prints, without and with
            ``--json``.

        """
        from flowat_kernel.cli.output import published_document

        on_failure = command.get("on_failure")
        queue = command.get("queue")
        with self._publishing:
            published = self._workspace(command).publish(
                str(command.get("name")),
                notebook=Path(str(command.get("notebook"))),
                on_failure=on_failure if on_failure in ("stop", "continue") else None,
                queue=queue if isinstance(queue, str) else None,
            )
        return {"text": str(published), "document": published_document(published)}

    def run(self, command: dict[str, Any], stderr: _Lines) -> dict[str, Any]:
        """Start (and wait for) the run a command asks for, as its caller."""
        from flowat_kernel.cli.output import ProgressPrinter

        parameters = command.get("parameters")
        version = command.get("version")
        timeout = command.get("timeout")
        run = self._workspace(command).run(
            str(command.get("workflow")),
            version=version if isinstance(version, int) else None,
            parameters=dict(parameters) if isinstance(parameters, dict) else {},
            wait=bool(command.get("wait", True)),
            progress=ProgressPrinter(cast(TextIO, stderr)) if command.get("progress") else None,
            trigger="cli",
            worker="shared",
            timeout=float(timeout) if isinstance(timeout, int | float) else None,
        )
        return run.to_json()

    def start(self) -> None:
        """Listen (the socket 0600 in a 0700 folder) and serve in a background thread."""
        self.path.parent.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        self.path.unlink(missing_ok=True)
        umask = os.umask(0o177)
        try:
            self._server.server_bind()
        finally:
            os.umask(umask)
        self._server.server_activate()
        os.register_at_fork(after_in_child=self._forget_in_child)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="flowat-handoff", daemon=True
        )
        self._thread.start()

    def _forget_in_child(self) -> None:
        """A forked child (a step's process) does not keep the listening socket."""
        with contextlib.suppress(OSError):
            self._server.socket.close()

    def close(self) -> None:
        """Stop listening and remove the socket (commands being served finish)."""
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()
        self.path.unlink(missing_ok=True)


def _stale(folder: Path, prefix: str) -> None:
    """Remove sockets this installation's workers left when they died (pid gone)."""
    for path in folder.glob(f"{prefix}-*.sock"):
        try:
            pid = int(path.stem.rsplit("-", 1)[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except (ValueError, OSError):
            continue


def open_door(runtime: Runtime, config: Settings) -> HandoffDoor | None:
    """Serve hand-overs for this worker, or ``None`` when a socket cannot be made here.

    ``None`` (logged) when the socket's path would be too long for a Unix socket or
    the folder cannot be made: ``flowat run`` then starts its runs itself, as before.
    """
    folder = socket_folder(config)
    prefix = fingerprint(config)
    path = folder / f"{prefix}-{os.getpid()}.sock"
    if len(os.fsencode(path)) > _MAX_SOCKET_PATH:
        log.info("no hand-off socket: its path would be too long for a Unix socket: %s", path)
        return None
    try:
        door = HandoffDoor(runtime, path)
        if folder.is_dir():
            _stale(folder, prefix)
        door.start()
    except OSError as exc:
        log.warning("no hand-off socket at %s: %s", path, exc)
        return None
    return door
