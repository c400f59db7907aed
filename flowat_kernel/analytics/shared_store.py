"""Shared analytics: every host's events in PostgreSQL, read by DuckDB through Arrow.

With ``FLOWAT_DATABASE_URL`` on PostgreSQL, each process's writer still appends its
events to its own spool file first (so a crash loses nothing), and each flush (or the
recovery of a dead process's spool) sends that spool to the table ``analytics_events``
in one ``COPY``. Every host's queries then see every host's events.

Tables (created on first use, in the store's database):

| table | holds |
| --- | --- |
| ``analytics_events`` | recent events, one row each, numbered in commit order (``id``) |
| ``analytics_segments`` | older events, compacted: one zstd Parquet file per day (``data``) |
| ``analytics_batches`` | the spool files already sent, so a resent spool is not counted twice |
| ``analytics_state`` | ``generation``: bumped whenever rows or segments are removed |

Why this shape:

- **One batch, one transaction.** A batch's rows and its ``analytics_batches`` row
  commit together; a spool sent again (its process died after the ``COPY`` and before
  removing the file) finds its batch there and is skipped.
- **Ids in commit order.** Inserts take a transaction-scoped advisory lock, so a
  transaction with smaller ids always commits before one with larger ids; a reader that
  has seen every id up to N can ask for ``id > N`` alone and miss nothing.
- **Cheap repeated queries.** Each process keeps the events it has read as Arrow tables
  (segments by id, recent rows by id range) and, per query, reads only what is new in
  one ``REPEATABLE READ`` snapshot (two round trips when nothing changed: the
  generation with the segments' ids, then the rows past the last id seen): new rows,
  new segments, and everything again when the generation moved (a compaction, an
  expiry or a deletion).
- **No DuckDB extension.** PostgreSQL rows travel as CSV (``COPY ... TO STDOUT``) into
  Arrow's CSV reader, timestamps as integer microseconds; DuckDB scans the Arrow tables.

Compaction, expiry and deletion live in :mod:`flowat_kernel.analytics.shared_compaction`.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa

from flowat_kernel.analytics.events import COLUMNS
from flowat_kernel.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy import Connection, Engine

__all__ = ["SharedEvents", "is_shared_url", "shared_events"]

_META = sa.MetaData()
_TYPES: dict[str, Any] = {
    "timestamp": sa.DateTime(timezone=True),
    "string": sa.Text(),
    "int32": sa.Integer(),
    "int64": sa.BigInteger(),
    "float64": sa.Float(),
}
EVENTS = sa.Table(
    "analytics_events",
    _META,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    *(sa.Column(name, _TYPES[kind]) for name, kind in COLUMNS),
)
SEGMENTS = sa.Table(
    "analytics_segments",
    _META,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("day", sa.Date, nullable=False, index=True),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
BATCHES = sa.Table(
    "analytics_batches",
    _META,
    sa.Column("batch", sa.Text, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)
STATE = sa.Table(
    "analytics_state",
    _META,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)
_NAMES = [name for name, _ in COLUMNS]
_TIMESTAMPS = [name for name, kind in COLUMNS if kind == "timestamp"]
#: Advisory lock keys: inserts (ids in commit order), table creation, maintenance.
INSERT_LOCK = 7311501
_CREATE_LOCK = 7311502
MAINTENANCE_LOCK = 7311503


def is_shared_url(database_url: str) -> bool:
    """Whether a store at ``database_url`` holds the shared analytics (PostgreSQL)."""
    return database_url.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")


def _select_list() -> str:
    """The columns as ``COPY ... TO`` sends them: timestamps as integer microseconds."""
    parts = []
    for name in _NAMES:
        if name in _TIMESTAMPS:
            parts.append(f"(extract(epoch FROM {name}) * 1000000)::bigint AS {name}")
        else:
            parts.append(name)
    return ", ".join(parts)


def read_csv(data: bytes, with_id: bool) -> pa.Table:
    """Rows sent by ``COPY (SELECT [id,] columns) TO STDOUT (FORMAT csv)`` as an events table."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    from flowat_kernel.analytics.events import SCHEMA

    names = (["id"] if with_id else []) + _NAMES
    types = {f.name: (pa.int64() if f.name in _TIMESTAMPS else f.type) for f in SCHEMA}
    if with_id:
        types["id"] = pa.int64()
    if not data:
        empty = SCHEMA.empty_table()
        return empty.add_column(0, "id", pa.array([], pa.int64())) if with_id else empty
    table = pcsv.read_csv(
        io.BytesIO(data),
        read_options=pcsv.ReadOptions(column_names=names, block_size=16 << 20),
        convert_options=pcsv.ConvertOptions(
            column_types=types,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    for name in _TIMESTAMPS:
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, pc.cast(table[name], pa.timestamp("us", tz="UTC")))
    return table


class SharedEvents:
    """The shared analytics events in one PostgreSQL database.

    Args:
        database_url: the store's SQLAlchemy URL (``postgresql+psycopg://...``).

    Raises:
        ConfigError: the URL is not PostgreSQL through psycopg.

    """

    def __init__(self, database_url: str) -> None:
        from flowat_kernel.store.database import make_engine

        if not is_shared_url(database_url):
            raise ConfigError(
                "shared analytics need FLOWAT_DATABASE_URL on PostgreSQL "
                "(postgresql+psycopg://...), not another database"
            )
        self.engine: Engine = make_engine(database_url)
        if self.engine.dialect.driver != "psycopg":
            raise ConfigError(
                f"shared analytics send events with psycopg's COPY; use a "
                f"postgresql+psycopg:// URL, not {self.engine.dialect.driver}"
            )
        #: Where the events are, for messages (never with a password).
        self.location = self.engine.url.render_as_string(hide_password=True)
        self._ready = False
        self._lock = threading.Lock()
        self._cache = _Cache()

    # -- set-up ------------------------------------------------------------------------

    def ensure_tables(self) -> None:
        """Create the analytics tables if they are missing (once per process)."""
        if self._ready:
            return
        with self.engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CREATE_LOCK})
            _META.create_all(conn, checkfirst=True)
            conn.execute(
                sa.text(
                    "INSERT INTO analytics_state (key, value) VALUES ('generation', 0) "
                    "ON CONFLICT (key) DO NOTHING"
                )
            )
        self._ready = True

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction on the shared database (tables created first)."""
        self.ensure_tables()
        with self.engine.begin() as conn:
            yield conn

    # -- writing -----------------------------------------------------------------------

    def _claim(self, conn: Connection, batch: str | None) -> bool:
        """Take the insert lock and record ``batch``; False if it was sent before."""
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": INSERT_LOCK})
        if batch is None:
            return True
        claimed = conn.execute(
            sa.text(
                "INSERT INTO analytics_batches (batch, at) VALUES (:b, :at) "
                "ON CONFLICT (batch) DO NOTHING RETURNING batch"
            ),
            {"b": batch, "at": datetime.now(UTC)},
        ).first()
        return claimed is not None

    def insert_table(self, table: pa.Table, batch: str | None = None) -> int:
        """Send an events table in one ``COPY``; the rows inserted (0 if ``batch`` was sent)."""
        import pyarrow.csv as pcsv

        if not table.num_rows:
            return 0
        buffer = io.BytesIO()
        pcsv.write_csv(table.select(_NAMES), buffer, pcsv.WriteOptions(include_header=False))
        with self.transaction() as conn:
            if not self._claim(conn, batch):
                return 0
            cursor = _raw(conn).cursor()
            with cursor.copy(
                f"COPY analytics_events ({', '.join(_NAMES)}) FROM STDIN (FORMAT csv)"
            ) as copy:
                copy.write(buffer.getbuffer())
        return int(table.num_rows)

    def insert_rows(self, rows: Iterable[dict[str, Any]], batch: str | None = None) -> int:
        """Send event rows (plain dicts) in one ``COPY``, without pyarrow (short processes)."""
        rows = list(rows)
        if not rows:
            return 0
        with self.transaction() as conn:
            if not self._claim(conn, batch):
                return 0
            cursor = _raw(conn).cursor()
            with cursor.copy(f"COPY analytics_events ({', '.join(_NAMES)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(tuple(_text(row.get(name)) for name in _NAMES))
        return len(rows)

    # -- reading -----------------------------------------------------------------------

    def snapshot(self) -> pa.Table:
        """Every shared event now (compacted and recent), as one Arrow table.

        Reads only what changed since this process's previous snapshot.
        """
        self.ensure_tables()
        with self._lock:
            return self._cache.refresh(self.engine)

    def forget(self) -> None:
        """Drop this process's cached events (the next snapshot reads everything)."""
        with self._lock:
            self._cache = _Cache()


def _text(value: Any) -> Any:
    """A value for a text-format ``COPY`` row (nested values as JSON text)."""
    if isinstance(value, dict | list):
        import json

        return json.dumps(value)
    return value


def _raw(conn: Connection) -> Any:
    """The psycopg connection under an SQLAlchemy connection."""
    return cast(Any, conn.connection).driver_connection


def copy_out(conn: Connection, query: str, params: tuple[Any, ...] = ()) -> bytes:
    """What ``COPY (query) TO STDOUT (FORMAT csv)`` sends, as bytes."""
    buffer = io.BytesIO()
    cursor = _raw(conn).cursor()
    with cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)", params) as copy:
        for data in copy:
            buffer.write(data)
    return buffer.getvalue()


def read_rows(conn: Connection, where: str = "TRUE", params: tuple[Any, ...] = ()) -> pa.Table:
    """The rows of ``analytics_events`` matching ``where``, in id order, with their ids."""
    query = f"SELECT id, {_select_list()} FROM analytics_events WHERE {where} ORDER BY id"
    return read_csv(copy_out(conn, query, params), with_id=True)


def parquet_table(data: bytes) -> pa.Table:
    """A segment's Parquet bytes as an events table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from flowat_kernel.analytics.events import SCHEMA

    return pq.read_table(pa.BufferReader(data), schema=SCHEMA)


class _Cache:
    """One process's copy of the shared events, refreshed by what changed."""

    def __init__(self) -> None:
        self.generation: int | None = None
        self.last_id = 0
        self.recent: list[pa.Table] = []
        self.segments: dict[int, pa.Table] = {}
        self.combined: pa.Table | None = None

    def refresh(self, engine: Engine) -> pa.Table:
        import pyarrow as pa
        import pyarrow.compute as pc

        from flowat_kernel.analytics.events import SCHEMA

        with engine.connect() as base:
            conn = base.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                generation, segment_ids = conn.execute(
                    sa.text(
                        "SELECT (SELECT value FROM analytics_state WHERE key = 'generation'), "
                        "ARRAY(SELECT id FROM analytics_segments)"
                    )
                ).one()
                ids = set(segment_ids)
                changed = False
                if generation != self.generation:
                    self.generation, self.last_id, self.recent = generation, 0, []
                    changed = True
                rows = read_rows(conn, "id > %s", (self.last_id,))
                if rows.num_rows:
                    self.last_id = int(pc.max(rows["id"]).as_py())
                    self.recent.append(rows.drop_columns(["id"]))
                    changed = True
                for gone in set(self.segments) - ids:
                    del self.segments[gone]
                    changed = True
                missing = sorted(ids - set(self.segments))
                if missing:
                    found = conn.execute(
                        sa.text("SELECT id, data FROM analytics_segments WHERE id = ANY(:ids)"),
                        {"ids": missing},
                    )
                    for segment_id, data in found:
                        self.segments[int(segment_id)] = parquet_table(bytes(data))
                    changed = True
        if changed or self.combined is None:
            if len(self.recent) > 1:
                recent = pa.concat_tables(self.recent)
                # Many small refreshes leave many small chunks; scans prefer fewer.
                self.recent = [recent.combine_chunks() if recent["ts"].num_chunks > 64 else recent]
            parts = [*self.segments.values(), *self.recent]
            self.combined = pa.concat_tables(parts) if parts else SCHEMA.empty_table()
        return self.combined


_shared: dict[str, SharedEvents] = {}
_shared_lock = threading.Lock()


def shared_events(database_url: str | None = None) -> SharedEvents | None:
    """The shared events of the store at ``database_url``, or None for an embedded store.

    Args:
        database_url: the store's URL; by default ``FLOWAT_DATABASE_URL`` (the current
            settings). SQLite (the embedded default) keeps analytics in
            ``FLOWAT_HOME/analytics``, so the answer is None.

    """
    if database_url is None:
        from flowat_kernel.config import settings

        database_url = settings().database_url
    if not is_shared_url(database_url):
        return None
    with _shared_lock:
        found = _shared.get(database_url)
        if found is None:
            found = _shared[database_url] = SharedEvents(database_url)
        return found
