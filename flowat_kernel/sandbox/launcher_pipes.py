"""The launcher's channels to one sandboxed process, and how it is killed.

:class:`_Pipes` reads the child's output, result and status pipes at once, each with its
own cap; :class:`_Gateway` is the socket pair an ``--allow-network`` sandbox reaches its
egress proxy through. Every descriptor is closed exactly once. :func:`_write_all` feeds
the request to the child's stdin, and :func:`_kill` ends its whole process group.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import subprocess
import time
from typing import IO

from flowat_kernel.sandbox.egress import EgressGateway, EgressPolicy

_POLL_SECONDS = 0.1  # how often the waiting thread can notice a cancellation


def _close_once(fd: int) -> None:
    """Close ``fd``, which the caller has already forgotten (never retried)."""
    with contextlib.suppress(OSError):  # EINTR: Linux has released it anyway
        os.close(fd)


def _write_all(stream: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(OSError):  # the child died before reading it all
        stream.write(data)
    with contextlib.suppress(OSError):
        stream.close()


class _Pipes:
    """The three pipes read at once, each with its own cap.

    Each descriptor is closed exactly once: it is forgotten before it is closed, so a
    number another thread may have been given since is never closed again.
    """

    def __init__(self, caps: dict[str, int]) -> None:
        self.caps = caps
        self.reads: dict[str, int] = {}
        self.writes: dict[str, int] = {}
        self.data: dict[str, bytearray] = {name: bytearray() for name in caps}
        try:
            for name in caps:
                self.reads[name], self.writes[name] = os.pipe()
        except BaseException:
            self.close()
            raise

    def child_end(self, name: str) -> int:
        return self.writes[name]

    def close_child_ends(self) -> None:
        """Close the write ends (the child has its copies); only once."""
        while self.writes:
            _, fd = self.writes.popitem()
            _close_once(fd)

    def close(self) -> None:
        """Close every descriptor still held; only once."""
        self.close_child_ends()
        while self.reads:
            _, fd = self.reads.popitem()
            _close_once(fd)

    def read_until_closed(self, deadline: float) -> str | None:
        """Read until every pipe closes.

        Returns the name of the first pipe over its cap, ``"wall_clock"`` past
        ``deadline``, or ``None``.
        """
        selector = selectors.DefaultSelector()
        names: dict[int, str] = {}
        for name, read in self.reads.items():
            os.set_blocking(read, False)
            selector.register(read, selectors.EVENT_READ)
            names[read] = name
        try:
            while names:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return "wall_clock"
                for key, _ in selector.select(min(_POLL_SECONDS, remaining)):
                    name = names[key.fd]
                    try:
                        chunk = os.read(key.fd, 1 << 16)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        selector.unregister(key.fd)
                        del names[key.fd]
                        continue
                    buffer = self.data[name]
                    buffer += chunk
                    if len(buffer) > self.caps[name]:
                        return name
            return None
        finally:
            selector.close()


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.wait()


class _Gateway:
    """The socket pair of one ``--allow-network`` sandbox; each end closed exactly once."""

    def __init__(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._parent: socket.socket | None = parent
        self._child: socket.socket | None = child
        self.child_fd = child.fileno()
        self._server: EgressGateway | None = None

    def start(self, deadline: float, policy: EgressPolicy | None) -> None:
        """The child holds its copy now: drop ours, serve the parent's end."""
        self._close_child()
        parent, self._parent = self._parent, None
        if parent is not None:
            self._server = EgressGateway(parent, deadline, policy)  # owns it from here
            self._server.start()

    def _close_child(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.close()

    def close(self) -> None:
        """End the sandbox's connections; close whatever this object still owns."""
        self._close_child()
        parent, self._parent = self._parent, None
        if parent is not None:
            parent.close()
        if self._server is not None:
            self._server.stop()
