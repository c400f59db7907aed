"""Capturing what a step shows, inside the step's own process.

:func:`capturing` redirects, for the duration of one step, everything a notebook would
show into an :class:`~flowat_kernel.engine.cells.outputs.Outputs`:

- ``sys.stdout`` and ``sys.stderr`` become writers of the ``stdout`` and ``stderr``
  streams (warnings and logging records write to ``sys.stderr``, so they land there);
- file descriptors 1 and 2 become pipes read by a thread, so output of C code and of
  subprocesses (``subprocess.run(["ls"])``, ``!ls``) is captured too and never reaches
  the worker's own streams; standard input reads ``/dev/null``;
- the IPython shell's display publisher records ``display()`` calls as ``display_data``.

This runs only in a step's child process: it changes process-wide state. The pipes and
their threads are made once per process and pointed at one cell's outputs at a time, so
the items of a ``--chunk`` (one cell after another in one process) do not pay for them
each time; between cells, what reaches them is dropped, as a closed cell's would be.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import functools
import io
import os
import select
import sys
import threading
from collections.abc import Iterator
from typing import Any

from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

from flowat_kernel.engine.cells.outputs import Outputs

__all__ = ["capturing", "release"]


class _BinaryWriter(io.RawIOBase):
    """``sys.stdout.buffer``: bytes written are decoded into the stream."""

    def __init__(self, text: _Stream) -> None:
        self._text = text
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        raw = bytes(data)
        self._text.write(self._decoder.decode(raw))
        return len(raw)

    def fileno(self) -> int:
        return self._text.fileno()


class _Stream(io.TextIOBase):
    """A text stream writing into one output stream (``stdout`` or ``stderr``).

    Its outputs are the running cell's; with none (between cells) text is dropped.
    """

    def __init__(self, outputs: Outputs | None, name: str, fd: int) -> None:
        self._outputs = outputs
        self._name = name
        self._fd = fd
        self.buffer = _BinaryWriter(self)

    encoding = "utf-8"
    errors = "replace"

    @property
    def name(self) -> str:
        return f"<{self._name}>"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self._outputs is not None:
            self._outputs.stream(self._name, text)
        return len(text)

    def fileno(self) -> int:
        return self._fd

    def flush(self) -> None:
        pass


class _Publisher(DisplayPublisher):
    """The shell's display publisher: ``display()`` becomes ``display_data``."""

    def __init__(self, outputs: Outputs, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        self._outputs = outputs

    def publish(
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        source: Any = None,
        *,
        transient: dict[str, Any] | None = None,
        update: bool = False,
        **kwargs: Any,
    ) -> None:
        display_id = (transient or {}).get("display_id")
        self._outputs.rich("display_data", data, metadata, display_id=display_id, update=update)

    def clear_output(self, wait: bool = False) -> None:
        self._outputs.clear(wait)


class _FdPipe:
    """File descriptor ``fd`` redirected into a pipe whose reader feeds one stream.

    The reader thread waits for data, then reads it and writes it to the stream under a
    lock; :meth:`settle` takes in, under the same lock, whatever is in the pipe right
    now, so output written before a ``display()`` is shown before it.
    """

    def __init__(self, fd: int, writer: _Stream) -> None:
        self.fd = fd
        read, write = os.pipe()
        os.dup2(write, fd)
        os.close(write)
        os.set_blocking(read, False)
        self._read = read
        self._writer = writer
        self._lock = threading.RLock()  # point() takes it around _take(), which takes it too
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._thread = threading.Thread(target=self._pump, name=f"flowat-fd{fd}", daemon=True)
        self._thread.start()

    def _take(self) -> bool:
        """Read and pass on what the pipe holds now; ``False`` once it is closed."""
        with self._lock:
            while True:
                try:
                    data = os.read(self._read, 65536)
                except BlockingIOError:
                    return True
                except OSError:
                    return False
                if not data:
                    self._writer.write(self._decoder.decode(b"", final=True))
                    return False
                self._writer.write(self._decoder.decode(data))

    def _pump(self) -> None:
        while True:
            try:
                select.select([self._read], [], [])
            except (OSError, ValueError):
                return
            if not self._take():
                return

    def settle(self) -> None:
        """Pass on what is in the pipe now (output written before this moment)."""
        self._take()

    def point(self, outputs: Outputs | None) -> None:
        """Send what the pipe holds now where it went, then from now on to ``outputs``."""
        with self._lock:
            self._take()
            self._writer._outputs = outputs

    def close(self) -> None:
        """Point ``fd`` at ``/dev/null``; the thread ends once the pipe is drained."""
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, self.fd)
        os.close(null)
        self._thread.join(_DRAIN_SECONDS)


class _Capture:
    """File descriptors 1 and 2 as pipes into two streams: made once per process."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.stdout = _Stream(None, "stdout", 1)
        self.stderr = _Stream(None, "stderr", 2)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        self.pipes = [_FdPipe(1, self.stdout), _FdPipe(2, self.stderr)]

    def point(self, outputs: Outputs | None) -> None:
        """Everything written from now on goes to ``outputs`` (``None``: nowhere)."""
        for pipe in self.pipes:
            pipe.point(outputs)

    def settle(self) -> None:
        """Take in what has been written so far, C's buffered output included."""
        self.stdout.flush()
        self.stderr.flush()
        _flush_c_streams()
        for pipe in self.pipes:
            pipe.settle()


_capture: _Capture | None = None
_DRAIN_SECONDS = 0.5  # how long release() waits for output still in the pipes


def release() -> None:
    """End this process's capture: its pipes and threads (before the template forks)."""
    global _capture
    if _capture is not None and _capture.pid == os.getpid():
        for pipe in _capture.pipes:
            pipe.close()
    _capture = None


def _process_capture() -> _Capture:
    """The capture of the current process (a forked child makes its own: threads do not fork)."""
    global _capture
    if _capture is None or _capture.pid != os.getpid():
        _capture = _Capture()
    return _capture


def _flush_c_streams() -> None:
    """Flush C's stdio buffers, so output of C code reaches the pipes."""
    with contextlib.suppress(Exception):
        _libc().fflush(None)


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None)


@contextlib.contextmanager
def capturing(outputs: Outputs, shell: InteractiveShell) -> Iterator[None]:
    """Capture streams, file descriptors 1 and 2 and displays into ``outputs``."""
    capture = _process_capture()
    capture.point(outputs)
    saved = sys.stdout, sys.stderr, shell.display_pub
    sys.stdout, sys.stderr = capture.stdout, capture.stderr
    publisher = _Publisher(outputs, shell=shell)
    shell.display_pub = publisher
    outputs.settle = capture.settle
    try:
        yield
    finally:
        outputs.settle = None
        capture.settle()
        capture.point(None)
        sys.stdout, sys.stderr, shell.display_pub = saved
        _forget(shell, publisher)


def _forget(shell: InteractiveShell, publisher: DisplayPublisher) -> None:
    """Take the publisher's execution hooks off the shell's events.

    IPython's publisher registers them when it is made; left there, every cell this
    process runs afterwards (the next items of a ``--chunk``) would call the hooks of
    every publisher before it.
    """
    for event in ("pre_execute", "post_execute"):
        hook = getattr(publisher, f"_on_{event}", None)
        if hook is not None:
            with contextlib.suppress(ValueError):
                shell.events.unregister(event, hook)
