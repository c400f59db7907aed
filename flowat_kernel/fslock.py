"""An exclusive lock between processes on one machine, held on a lock file."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["locked"]


@contextlib.contextmanager
def locked(lock_file: Path, folder_mode: int = 0o777) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_file`` (its folder is created if missing)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True, mode=folder_mode)
    descriptor = os.open(lock_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
