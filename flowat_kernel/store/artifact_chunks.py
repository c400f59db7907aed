r"""Artifacts in PostgreSQL: sealed bytes as chunk rows of the metadata store's database.

``FLOWAT_ARTIFACTS_URL=database`` keeps artifacts in the store's own PostgreSQL (tables
``artifacts`` and ``artifact_chunks``, migration 0013), so a deployment that already
has PostgreSQL needs nothing more to share artifacts between hosts; a
``postgresql+psycopg://`` URL names another database (its two tables are created
there on first use).

Chunks move with PostgreSQL's ``COPY`` in binary format (psycopg's streaming copy,
what ``psql``'s ``\copy`` uses): a write inserts the artifact's row and its 4 MiB chunk
rows in one transaction, so readers see a whole artifact or none; a read streams the
chunks in order (a chunk or two in memory at a time) in a ``REPEATABLE READ``
transaction, so a concurrent rewrite is never seen half-way. The chunks' column is stored without
compression (``STORAGE EXTERNAL``): sealed bytes do not compress.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any, cast

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from flowat_kernel.errors import ConfigError
from flowat_kernel.store.tables import ArtifactChunkRow, ArtifactRow
from flowat_kernel.streams import ChunkingWriter, Fill, Readable

__all__ = ["CHUNK_BYTES", "DatabaseBackend"]

#: The size of one chunk row.
CHUNK_BYTES = 4 << 20
#: The first key of the advisory locks that serialise writers of one reference.
_LOCK_SPACE = 7311413

_ARTIFACTS = cast(sa.Table, ArtifactRow.__table__)
_CHUNKS = cast(sa.Table, ArtifactChunkRow.__table__)


class _ChunkWriter(ChunkingWriter):
    """Buffers written bytes and sends each full chunk as a row of a ``COPY``."""

    def __init__(self, copy: Any, reference: str) -> None:
        super().__init__(CHUNK_BYTES)
        self._copy = copy
        self._reference = reference
        self.size = 0
        self.chunks = 0

    def _send(self) -> None:
        self._copy.write_row((self._reference, self.chunks, bytes(self._buffer)))
        self.size += len(self._buffer)
        self.chunks += 1
        self._buffer.clear()

    def finish(self) -> None:
        """Send the last, partial chunk."""
        if self._buffer:
            self._send()


class _ChunkReader(io.RawIOBase):
    """The chunks of one artifact, in order, as one stream."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._current = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(target):
            if not len(self._current):
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._current = memoryview(chunk)
            count = min(len(target) - filled, len(self._current))
            target[filled : filled + count] = self._current[:count]
            self._current = self._current[count:]
            filled += count
        return filled


_COPY_IN = "COPY artifact_chunks (reference, seq, data) FROM STDIN (FORMAT BINARY)"
_COPY_OUT = (
    "COPY (SELECT data FROM artifact_chunks WHERE reference = %s ORDER BY seq) "
    "TO STDOUT (FORMAT BINARY)"
)


def _driver(conn: Connection) -> Any:
    """The psycopg connection under ``conn`` (same transaction), for ``COPY``."""
    return conn.connection.driver_connection


def _prefix_filter(column: Any, folder: str) -> Any:
    return column.startswith(f"{folder}/", autoescape=True)


class DatabaseBackend:
    """Sealed artifacts as rows of a SQLAlchemy engine's database (PostgreSQL).

    Args:
        engine: the database; its ``artifacts`` and ``artifact_chunks`` tables exist
            (the store's migrations made them, or :meth:`from_url` did).

    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.location = f"the database {engine.url.render_as_string(hide_password=True)}"

    @classmethod
    def from_url(cls, url: str) -> DatabaseBackend:
        """A PostgreSQL database of its own, its two tables created if missing.

        Raises:
            ConfigError: the URL is not PostgreSQL, or the database cannot be reached.

        """
        from flowat_kernel.store.database import make_engine

        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError:
            parsed = None
        if parsed is None or parsed.get_backend_name() != "postgresql":
            raise ConfigError(
                "FLOWAT_ARTIFACTS_URL is not a PostgreSQL URL; use "
                "postgresql+psycopg://user@host/db (or database for the store's own)"
            )
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(7311400213)"))
                for table in (_ARTIFACTS, _CHUNKS):
                    table.create(conn, checkfirst=True)
        except sa.exc.SQLAlchemyError as exc:
            engine.dispose()
            shown = parsed.render_as_string(hide_password=True)
            raise ConfigError(
                f"FLOWAT_ARTIFACTS_URL: cannot use the PostgreSQL database {shown} for "
                f"artifacts ({exc.__class__.__name__}: {getattr(exc, 'orig', exc)}); check "
                "the URL, that the server runs and that the user may create tables"
            ) from None
        return cls(engine)

    def write(self, reference: str, fill: Fill) -> int:
        """Replace the artifact's row and chunks in one transaction; its size."""
        with self.engine.begin() as conn:
            # Writers of one reference (a step's attempt and its retry on another worker)
            # take turns; the last to commit wins, as a rename does in a folder.
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(CAST(:space AS int), hashtext(:reference))"),
                {"space": _LOCK_SPACE, "reference": reference},
            )
            conn.execute(_CHUNKS.delete().where(_CHUNKS.c.reference == reference))
            conn.execute(_ARTIFACTS.delete().where(_ARTIFACTS.c.reference == reference))
            conn.execute(
                _ARTIFACTS.insert().values(
                    reference=reference,
                    size_bytes=0,
                    chunk_count=0,
                    created_at=datetime.now(UTC),
                )
            )
            cursor = _driver(conn).cursor()
            with cursor.copy(_COPY_IN) as copy:
                copy.set_types(["varchar", "int4", "bytea"])
                writer = _ChunkWriter(copy, reference)
                stream: IO[bytes] = writer  # type: ignore[assignment]
                fill(stream)
                writer.finish()
            conn.execute(
                _ARTIFACTS.update()
                .where(_ARTIFACTS.c.reference == reference)
                .values(size_bytes=writer.size, chunk_count=writer.chunks)
            )
        return writer.size

    @contextlib.contextmanager
    def open(self, reference: str) -> Iterator[tuple[Readable, int]]:
        """The chunks in order, streamed by binary ``COPY``, and the stored size."""
        with self.engine.connect() as plain:
            conn = plain.execution_options(isolation_level="REPEATABLE READ")
            size = conn.execute(
                sa.select(_ARTIFACTS.c.size_bytes).where(_ARTIFACTS.c.reference == reference)
            ).scalar_one_or_none()
            if size is None:
                raise FileNotFoundError(reference)
            cursor = _driver(conn).cursor()
            with cursor.copy(_COPY_OUT, (reference,)) as copy:
                copy.set_types(["bytea"])
                rows = copy.rows()
                try:
                    yield _ChunkReader(row[0] for row in rows), int(size)
                finally:
                    for _ in rows:  # the COPY must end before the connection is reused
                        pass

    def delete(self, reference: str) -> bool:
        """Delete the artifact's chunks and row."""
        with self.engine.begin() as conn:
            conn.execute(_CHUNKS.delete().where(_CHUNKS.c.reference == reference))
            gone = conn.execute(_ARTIFACTS.delete().where(_ARTIFACTS.c.reference == reference))
        return bool(gone.rowcount)

    def delete_folder(self, folder: str) -> int:
        """Delete every artifact whose reference starts with ``folder/``."""
        with self.engine.begin() as conn:
            conn.execute(_CHUNKS.delete().where(_prefix_filter(_CHUNKS.c.reference, folder)))
            gone = conn.execute(
                _ARTIFACTS.delete().where(_prefix_filter(_ARTIFACTS.c.reference, folder))
            )
        return int(gone.rowcount)

    def folders(self, folder: str) -> list[str]:
        """The distinct next path parts of references under ``folder/``."""
        start = len(folder) + 1
        with self.engine.connect() as conn:
            references = conn.execute(
                sa.select(_ARTIFACTS.c.reference).where(
                    _prefix_filter(_ARTIFACTS.c.reference, folder)
                )
            ).scalars()
            return sorted({r[start:].split("/", 1)[0] for r in references})
