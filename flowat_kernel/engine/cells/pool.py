"""The worker's side of the step processes: a template to fork from, and idle children.

:class:`ProcessPool` starts the template once (``python -c`` with this interpreter,
importing FlowAt, IPython and the common data libraries), keeps a few forked children
waiting for a step, and hands one out per step; a filler thread forks replacements in
the background. A step that finds none waiting (a burst) has the template fork a few
at once (:data:`BURST`, never leaving more than ``idle`` waiting). A child runs one step
and exits, unless the worker keeps it for its run's next step
(:mod:`~flowat_kernel.engine.cells.kept`) or its chunk's next item; nothing of one run
reaches another's process.

:class:`StepChild` is the worker's handle on one child: its connection and its process
group, which :meth:`StepChild.stop` ends with ``SIGTERM`` and, after a short grace,
``SIGKILL`` (subprocesses the step started included).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import IO

from flowat_kernel.engine.cells.template import MAX_BATCH
from flowat_kernel.errors import FlowAtError

__all__ = ["BURST", "GRACE_SECONDS", "ProcessPool", "StepChild", "pool"]

log = logging.getLogger(__name__)

#: How long a child has after ``SIGTERM`` before it is killed.
GRACE_SECONDS = 2.0
#: Children forked at once when a step finds none waiting (a burst of steps), at most
#: ``idle + 1`` (the rest wait for the next steps): the template forks them back to
#: back, instead of one round trip between the worker's threads and the template each.
BURST = 4
#: How long the template may take to import FlowAt and IPython.
_START_SECONDS = 60.0
_BOOT = (
    "import sys;from flowat_kernel.engine.cells.template import main;"
    "main(int(sys.argv[1]), sys.argv[2])"
)


class StepChild:
    """One forked child: the connection to it and its process (group) id."""

    def __init__(self, pid: int, conn: Connection) -> None:
        self.pid = pid
        self.conn = conn

    def _signal(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:  # not yet its own group leader: the process alone
            with contextlib.suppress(OSError):
                os.kill(self.pid, sig)
        except PermissionError:
            pass

    def stop(
        self, grace: float = GRACE_SECONDS, receive: Callable[[bytes], object] | None = None
    ) -> None:
        """End the child and its process group: ``SIGTERM``, then ``SIGKILL`` after ``grace``.

        Args:
            grace: seconds between the two signals.
            receive: given each frame the child sent and the worker had not read yet
                (what it showed last), until the connection ends.

        """
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        with contextlib.suppress(OSError):
            while time.monotonic() < deadline:
                # The connection ends when the child is gone (EOF), or it sent a last frame.
                if wait([self.conn], timeout=0.05):
                    try:
                        frame = self.conn.recv_bytes()
                    except EOFError:
                        break
                    if receive is not None:
                        with contextlib.suppress(Exception):
                            receive(frame)
        self._signal(signal.SIGKILL)
        self.close()

    def waiting(self) -> bool:
        """Whether this idle child is still there to take a step.

        A child waiting for a task sends nothing, so anything to read on its connection
        means it ended (EOF): stopped with the template, killed, out of memory.
        """
        try:
            return not self.conn.closed and not self.conn.poll(0)
        except OSError:
            return False

    def close(self) -> None:
        """Close the worker's end of the connection."""
        with contextlib.suppress(OSError):
            self.conn.close()


class ProcessPool:
    """Forks step children from a template process, keeping ``idle`` of them ready.

    Args:
        idle: children kept forked and waiting (``FLOWAT_STEP_POOL``, default 2).
        preload: more modules the template imports before forking
            (``FLOWAT_STEP_PRELOAD``, comma-separated).

    """

    def __init__(self, idle: int = 2, preload: str = "") -> None:
        self.idle = max(0, idle)
        self.preload = preload
        self._lock = threading.Lock()  # the template's control socket, one request at a time
        self._ready: list[StepChild] = []
        self._ready_lock = threading.Condition()
        self._control: socket.socket | None = None
        self._template: subprocess.Popen[bytes] | None = None
        self._errors: IO[bytes] | None = None
        self._filler: threading.Thread | None = None

    def _start_template(self) -> socket.socket:
        """Start the template (under the lock) and wait until it has imported everything."""
        ours, theirs = socket.socketpair()
        errors = tempfile.TemporaryFile()  # noqa: SIM115 (kept open: the template's stderr)
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(theirs.fileno()), self.preload],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
                start_new_session=True,
            )
        except OSError as exc:
            raise FlowAtError(f"cannot start the step process template: {exc}") from None
        finally:
            theirs.close()
        ours.settimeout(_START_SECONDS)
        try:
            ready = ours.recv(1)
        except OSError:
            ready = b""
        if ready != b"R":
            process.kill()
            process.wait()
            errors.seek(0)
            detail = errors.read().decode(errors="replace").strip().splitlines()[-5:]
            ours.close()
            raise FlowAtError(
                "the step process template did not start (exit code "
                f"{process.returncode}): {' | '.join(detail) or 'no output'}"
            )
        ours.settimeout(None)
        self._template, self._errors = process, errors
        return ours

    def _fork(self, count: int = 1) -> list[StepChild]:
        """``count`` new children, forked by the template in one request (restarted as needed)."""
        count = max(1, min(count, MAX_BATCH))
        with self._lock:
            for attempt in range(2):
                if self._control is None:
                    self._control = self._start_template()
                pairs = [socket.socketpair() for _ in range(count)]
                try:
                    socket.send_fds(self._control, [b"F"], [t.fileno() for _, t in pairs])
                    answer = b""
                    while len(answer) < 4 * count:
                        chunk = self._control.recv(4 * count - len(answer))
                        if not chunk:
                            raise OSError("the template closed its socket")
                        answer += chunk
                except OSError:
                    for ours, _ in pairs:
                        ours.close()
                    self._drop_template()
                    if attempt:
                        raise FlowAtError("the step process template stopped answering") from None
                    continue
                finally:
                    for _, theirs in pairs:
                        theirs.close()
                pids = struct.unpack(f"!{count}i", answer)
                return [
                    StepChild(pid, Connection(ours.detach()))
                    for pid, (ours, _) in zip(pids, pairs, strict=True)
                ]
        raise AssertionError("unreachable")

    def _drop_template(self) -> None:
        if self._control is not None:
            with contextlib.suppress(OSError):
                self._control.close()
            self._control = None
        if self._template is not None:
            with contextlib.suppress(OSError):
                self._template.kill()
            with contextlib.suppress(Exception):
                self._template.wait(5)
            self._template = None

    def start(self) -> None:
        """Start the template and the filler thread (idempotent, returns at once)."""
        with self._ready_lock:
            if self._filler is None or not self._filler.is_alive():
                self._filler = threading.Thread(
                    target=self._fill, name="flowat-step-pool", daemon=True
                )
                self._filler.start()

    def _fill(self) -> None:
        while True:
            with self._ready_lock:
                while len(self._ready) >= self.idle:
                    self._ready_lock.wait()
                wanted = self.idle - len(self._ready)
            try:
                children = self._fork(wanted)
            except FlowAtError as exc:
                log.warning("step processes: %s", exc)
                time.sleep(5)
                continue
            with self._ready_lock:
                self._ready.extend(children)
                self._ready_lock.notify_all()

    def take(self) -> StepChild:
        """A child waiting for a step: an idle one, or one forked now.

        Raises:
            FlowAtError: the template cannot be started (the message says why).

        """
        self.start()
        while True:
            with self._ready_lock:
                child = self._ready.pop(0) if self._ready else None
                self._ready_lock.notify_all()
            if child is None:  # a burst: fork a few at once, at most `idle` left waiting
                child, *spare = self._fork(min(BURST, self.idle + 1))
                with self._ready_lock:
                    room = max(0, self.idle - len(self._ready))  # the filler may have added some
                    self._ready.extend(spare[:room])
                    self._ready_lock.notify_all()
                for extra in spare[room:]:
                    extra.close()  # it reads EOF and exits
                return child
            if child.waiting():
                return child
            child.close()  # it ended while it waited (its template was stopped)

    def close(self) -> None:
        """Stop the idle children and the template."""
        with self._ready_lock:
            ready, self._ready = self._ready, []
        for child in ready:
            child.close()
        with self._lock:
            self._drop_template()


_pool: ProcessPool | None = None
_pool_lock = threading.Lock()


def pool() -> ProcessPool:
    """The process's pool (made on first use from ``FLOWAT_STEP_POOL``/``_PRELOAD``)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            raw = os.environ.get("FLOWAT_STEP_POOL", "2").strip() or "2"
            try:
                idle = int(raw)
            except ValueError:
                raise FlowAtError(
                    f"FLOWAT_STEP_POOL={raw!r} is not a number: give how many step processes "
                    "to keep ready, for example FLOWAT_STEP_POOL=2"
                ) from None
            _pool = ProcessPool(idle, os.environ.get("FLOWAT_STEP_PRELOAD", ""))
        return _pool
