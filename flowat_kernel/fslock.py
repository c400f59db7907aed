"""An exclusive lock between processes on one machine, held on a lock file."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

__all__ = ["locked"]


@contextlib.contextmanager
def locked(lock_file: Path, folder_mode: int = 0o777) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_file`` (its folder is created if missing)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True, mode=folder_mode)
    with open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
