"""Stream types shared by the layers that store bytes (artifact storage backends)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import IO, Any

__all__ = ["ChunkingWriter", "Fill", "Readable"]

#: Writes the sealed bytes of one artifact to the stream it is given.
Fill = Callable[[IO[bytes]], None]
#: A stream of stored bytes: ``read(n)`` and ``readinto(buffer)``, as files have.
Readable = io.RawIOBase | io.BufferedIOBase


class ChunkingWriter(io.RawIOBase):
    """A write-only stream that hands on its bytes in chunks of ``chunk_bytes``.

    Subclasses implement :meth:`_send`, called with the buffer full (and by the owner's
    own finishing code with the last, partial chunk); :meth:`_send` empties it.
    """

    def __init__(self, chunk_bytes: int) -> None:
        super().__init__()
        self._chunk_bytes = chunk_bytes
        self._buffer = bytearray()

    def writable(self) -> bool:
        """Always: this stream is for writing."""
        return True

    def write(self, data: Any) -> int:
        """Buffer ``data``, handing on each chunk as it fills; the number of bytes taken."""
        view = memoryview(data).cast("B")
        written = len(view)
        while len(view):
            room = self._chunk_bytes - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]
            if len(self._buffer) == self._chunk_bytes:
                self._send()
        return written

    def _send(self) -> None:
        """Hand on the buffered bytes and empty the buffer (the subclass's part)."""
        raise NotImplementedError
