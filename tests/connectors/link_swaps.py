"""A folder swapped for a link and back, over and over: the race the files roots must win."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def swapped_folder(root: Path, outside: Path) -> Iterator[list[int]]:
    """``root/sub`` turns into a link to ``outside`` and back in a thread, meanwhile.

    Yields a one-item list counting the swaps. ``root/sub`` must exist.
    """
    stop = threading.Event()
    swaps = [0]

    def swap() -> None:
        while not stop.is_set():
            os.rename(root / "sub", root / "parked")
            os.symlink(outside, root / "sub")
            os.unlink(root / "sub")
            os.rename(root / "parked", root / "sub")
            swaps[0] += 1

    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    try:
        yield swaps
    finally:
        stop.set()
        thread.join(timeout=10)
