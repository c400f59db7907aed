"""The batched event writer: an append-only spool per process, Parquet files by day.

Why this shape:

- **Never blocking a step.** Emitting is one ``write`` of JSON lines to this process's
  spool file (``O_APPEND``); no lock is shared with other processes, nothing waits for
  a disk sync or a database.
- **Losing nothing when the process dies.** An event is in the spool file (the
  kernel's page cache) as soon as it is emitted, so a crash of the process between
  emitting and flushing loses nothing: the next writer, or the next query, finds the
  orphaned spool file and converts it.
- **Fast reads.** A background thread flushes by size and by time: it rotates the
  spool file and turns it into one Parquet file per day under
  ``events/day=YYYY-MM-DD/``, written to a temporary name and renamed, so readers
  never see half a file. Each process writes its own files, so several workers
  append safely. DuckDB reads the Parquet files (and live spools) directly.

Layout under ``FLOWAT_HOME/analytics``: ``spool/HOST-PID-N-TOKEN.jsonl`` and
``events/day=YYYY-MM-DD/HOST-PID-N-TOKEN-UUID.parquet``.

**Shared analytics.** With the store on PostgreSQL (``FLOWAT_DATABASE_URL``), a flush
sends the spool to the shared table instead of Parquet (one ``COPY`` per flush; see
:mod:`flowat_kernel.analytics.shared_store`), and so does the recovery of a dead
process's spool: every host sees every host's events. The spool's name is the batch's
name there, so a spool sent twice is counted once.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowat_kernel.analytics import events
from flowat_kernel.vault.redaction import redact_data

if TYPE_CHECKING:
    import pyarrow as pa

    from flowat_kernel.analytics.shared_store import SharedEvents

__all__ = [
    "RECOVER_AFTER",
    "UPKEEP_SECONDS",
    "EventWriter",
    "convert_spool",
    "read_spool",
    "recover_orphans",
    "write_table",
]

_HOST = socket.gethostname().replace("-", "_")

#: Seconds after a writer starts (at most) before it converts the spools that processes
#: which have gone left behind.
RECOVER_AFTER = 2.0
#: How often a long-lived writer checks whether the shared events need compacting.
UPKEEP_SECONDS = 30.0


def _rows_of(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, "rb") as handle:
        for line in handle:
            try:
                rows.append(json.loads(line))
            except ValueError:  # a line torn by a crash mid-write: the rest is intact
                continue
    return rows


def _as_table(rows: list[dict[str, Any]]) -> pa.Table:
    for row in rows:
        for column in ("ts", "scheduled_at"):
            value = row.get(column)
            if isinstance(value, str):
                row[column] = datetime.fromisoformat(value)
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=events.SCHEMA)


#: Timestamps the events carry: never a secret, and they must stay parseable (a secret
#: such as a 4-digit PIN can occur inside one, and masking it would poison the spool).
_UNMASKED = ("ts", "scheduled_at")


def _masked(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with registered secret values masked, except in its timestamps."""
    masked: dict[str, Any] = redact_data(row)
    for column in _UNMASKED:
        if column in row:
            masked[column] = row[column]
    return masked


def write_table(folder: Path, table: pa.Table, stem: str) -> list[Path]:
    """Write an events ``table`` as one Parquet file per UTC day (atomically).

    Rows keep their order within a day. Returns the files written.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    days = pc.strftime(table["ts"], format="%Y-%m-%d")
    unique = pc.unique(days)
    written = []
    for index in pc.array_sort_indices(unique).to_pylist():
        # Compared as an Arrow scalar: a Python ``str`` would make pyarrow import pandas
        # to check its type (0.3 to 0.5 s and about 30 MB, once per process).
        day = unique[index]
        target = folder / "events" / f"day={day.as_py()}" / f"{stem}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = target.with_suffix(".parquet.tmp")
        pq.write_table(table.filter(pc.equal(days, day)), temporary, compression="zstd")
        os.chmod(temporary, 0o600)  # events hold run metadata: private like the home
        os.replace(temporary, target)
        written.append(target)
    return written


def read_spool(spool: Path) -> pa.Table:
    """A spool file as an events table.

    Arrow's JSON reader parses the whole file at once (several times faster than line by
    line in Python); a file it refuses, which only a line torn by a crash mid-write
    makes, is read line by line instead, skipping the torn line.
    """
    import pyarrow as pa
    import pyarrow.json as pj

    schema = events.SCHEMA
    if spool.stat().st_size == 0:
        return schema.empty_table()
    parse = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    try:
        return pj.read_json(spool, parse_options=parse).select(schema.names)
    except pa.ArrowInvalid:
        return _as_table(_rows_of(spool))


def _batch(spool: Path) -> str:
    """The shared batch name of a spool file: its name, unique per writer (a token)."""
    return spool.stem


def convert_spool(folder: Path, spool: Path, shared: SharedEvents | None = None) -> int:
    """Turn one closed spool file into Parquet (or shared rows) and remove it.

    Returns the event count. With ``shared``, the events go to the shared PostgreSQL
    table in one ``COPY`` (through Arrow when this process has loaded pyarrow, else row
    by row, so a short-lived process does not load it); a spool sent before is not
    sent again. If sending fails, the spool stays for a later flush or recovery.
    """
    if shared is not None:
        if "pyarrow" in sys.modules:
            table = read_spool(spool)
            shared.insert_table(table, batch=_batch(spool))
            count = int(table.num_rows)
        else:
            rows = _rows_of(spool)
            shared.insert_rows(rows, batch=_batch(spool))
            count = len(rows)
        spool.unlink(missing_ok=True)
        return count
    table = read_spool(spool)
    if table.num_rows:
        write_table(folder, table, f"{spool.stem}-{uuid.uuid4().hex[:8]}")
    spool.unlink(missing_ok=True)
    return int(table.num_rows)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_orphans(folder: Path, shared: SharedEvents | None = None) -> int:
    """Convert spool files whose process is gone (it died before flushing).

    With ``shared``, their events go to the shared PostgreSQL table.
    """
    recovered = 0
    spool_dir = folder / "spool"
    for spool in sorted(spool_dir.glob("*.jsonl")) if spool_dir.exists() else []:
        host, _, rest = spool.stem.partition("-")
        pid_text = rest.split("-", 1)[0]
        if host == _HOST and pid_text.isdigit() and _pid_alive(int(pid_text)):
            continue
        lock = spool.with_suffix(".recovering")
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            continue  # another process is converting it
        os.close(fd)
        try:
            if spool.exists():
                recovered += convert_spool(folder, spool, shared)
        finally:
            lock.unlink(missing_ok=True)
    return recovered


_open_writers: weakref.WeakSet[EventWriter] = weakref.WeakSet()


def flush_writers(folder: Path) -> None:
    """Flush every writer of this process that writes into ``folder`` (before a query)."""
    for writer in list(_open_writers):
        if writer.folder == folder:
            writer.flush()


class EventWriter:
    """The batched event writer of one process.

    Args:
        folder: ``FLOWAT_HOME/analytics``.
        flush_events: flush after this many events...
        flush_seconds: ...or this many seconds, whichever comes first.
        database_url: the metadata store's URL (default: ``FLOWAT_DATABASE_URL``); on
            PostgreSQL, flushes send the events to the shared analytics table.

    """

    def __init__(
        self,
        folder: Path,
        flush_events: int = 20_000,
        flush_seconds: float = 2.0,
        *,
        database_url: str | None = None,
    ) -> None:
        from flowat_kernel.analytics.shared_store import shared_events

        self.folder = folder
        #: The shared events this writer sends to (None: Parquet files in ``folder``).
        self.shared = shared_events(database_url)
        self._token = uuid.uuid4().hex[:8]
        self.flush_events = flush_events
        self.flush_seconds = flush_seconds
        (folder / "spool").mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        self._sequence = 0
        self._pending = 0
        self._unsent: list[Path] = []  # closed spools a failed flush left
        self._fd, self._path = self._open()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flowat-analytics", daemon=True)
        self._thread.start()
        _open_writers.add(self)
        atexit.register(self.close)

    def _open(self) -> tuple[int, Path]:
        self._sequence += 1
        name = f"{_HOST}-{os.getpid()}-{self._sequence}-{self._token}.jsonl"
        path = self.folder / "spool" / name
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), path

    def emit(self, row: dict[str, Any]) -> None:
        """Record one event (masked like everything FlowAt stores)."""
        self.emit_many([row])

    def emit_many(self, rows: Iterable[dict[str, Any]]) -> None:
        """Record several events with one write."""
        lines = [json.dumps(_masked(row), separators=(",", ":"), default=str) for row in rows]
        if not lines:
            return
        data = ("\n".join(lines) + "\n").encode()
        with self._lock:
            os.write(self._fd, data)
            self._pending += len(lines)
            full = self._pending >= self.flush_events
        if full:
            self._wake.set()

    def flush(self) -> None:
        """Move everything emitted so far into Parquet (also done in the background).

        A spool that could not be converted or sent (the shared database was down) is
        tried again by the next flush, before the new one.

        Raises:
            Exception: converting or sending failed (the spools are kept for a retry).

        """
        fd = None
        with self._lock:
            spools, self._unsent = self._unsent, []
            if self._pending:
                fd, path = self._fd, self._path
                self._fd, self._path = self._open()
                self._pending = 0
                spools.append(path)
        if fd is not None:
            os.close(fd)
        for index, spool in enumerate(spools):
            try:
                convert_spool(self.folder, spool, self.shared)
            except Exception:
                with self._lock:
                    self._unsent[:0] = spools[index:]
                raise

    def _run(self) -> None:
        recovered = False
        next_upkeep = time.monotonic() + UPKEEP_SECONDS
        while True:
            wait = self.flush_seconds if recovered else min(self.flush_seconds, RECOVER_AFTER)
            self._wake.wait(wait)
            self._wake.clear()
            if self._stop.is_set():
                return  # close() flushes, or leaves the spool (see there)
            if not recovered:
                # Only a process that lives a while converts other processes' spools: a
                # short one (``flowat run``) must not load pyarrow for them.
                recovered = True
                with contextlib.suppress(Exception):
                    recover_orphans(self.folder, self.shared)
            try:
                self.flush()
            except Exception:  # keep the spool: recovery converts it later
                continue
            if self.shared is not None and time.monotonic() >= next_upkeep:
                next_upkeep = time.monotonic() + UPKEEP_SECONDS
                with contextlib.suppress(Exception):  # the next writer tries again
                    from flowat_kernel.analytics.shared_compaction import maybe_compact

                    maybe_compact(self.shared)

    def close(self, convert: bool | None = None) -> None:
        """Flush and stop the background thread (idempotent).

        Args:
            convert: turn what is left in the spool into Parquet now; by default only
                when this process has loaded pyarrow already. Otherwise (a short-lived
                process such as ``flowat run`` that emitted an event or two) the spool
                stays: queries read it as it is, and the next long-lived writer or
                query converts it once this process has gone, as after a crash.

        """
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake.set()
        if self._thread is not threading.current_thread():
            # A flush in progress there would be cut off when the process exits (the
            # thread is a daemon), leaving its spool and a stray .parquet.tmp behind.
            self._thread.join()
        if convert is None:
            # Shared events must leave this host: sent without pyarrow if not loaded.
            convert = "pyarrow" in sys.modules or self.shared is not None
        if convert:
            with contextlib.suppress(Exception):
                self.flush()
        with self._lock:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            with contextlib.suppress(OSError):
                if self._path.stat().st_size == 0:
                    self._path.unlink()
