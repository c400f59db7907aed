"""Listing runs from a SQLite store with the standard library alone (no SQLAlchemy).

Importing SQLAlchemy costs about 0.2 s here, most of what ``flowat runs`` may take over
Python's own start-up. For the embedded SQLite store this module runs the listing's
queries (:class:`~flowat_kernel.store.run_listing.RunReads`) with ``sqlite3``, through
a connection of its own, and never writes; a store whose schema is not at
:data:`~flowat_kernel.store.database.HEAD_REVISION` is left to the full store (which
migrates it): :meth:`SqliteRunListing.current` says so.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flowat_kernel.errors import StoreError
from flowat_kernel.store.run_listing import RunReads

__all__ = ["SqliteRunListing"]


class SqliteRunListing(RunReads):
    """The listing's reads on a SQLite file, with ``sqlite3``.

    Raises:
        StoreError: from every method, when the file cannot be read.

    """

    mark = "?"

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            conn = sqlite3.connect(self.path, timeout=30)
            try:
                return conn.execute(sql, tuple(parameters)).fetchall()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot read runs from the metadata store at {self.path}: "
                f"{exc.__class__.__name__}: {exc}"
            ) from exc

    def current(self) -> bool:
        """Whether the file holds a store whose schema is at ``HEAD_REVISION``."""
        return self.path.is_file() and super().current()
