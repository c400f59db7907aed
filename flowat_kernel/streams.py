"""Stream types shared by the layers that store bytes (artifact storage backends)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import IO

__all__ = ["Fill", "Readable"]

#: Writes the sealed bytes of one artifact to the stream it is given.
Fill = Callable[[IO[bytes]], None]
#: A stream of stored bytes: ``read(n)`` and ``readinto(buffer)``, as files have.
Readable = io.RawIOBase | io.BufferedIOBase
