"""SQLite databases of the ``sql`` connector, confined to files roots.

A SQLite URL names a database inside a *files root* an Owner or Administrator configured
(``FLOWAT_FILES_ROOTS``, see the ``files`` connector), never a file the step author
picks: ``sqlite:///reports/sales.db`` is ``reports/sales.db`` in the root the action's
``root`` names (``data`` when unset), and ``sqlite:////abs/path.db`` is accepted only
when that path lies inside a configured root (it becomes that root and the relative
path). ``sqlite://`` and ``sqlite:///:memory:`` open a private in-memory database. URL
options (``?uri=true``, ``?mode=``, ``?vfs=``, ``?modeof=``, ...), ``file:`` names, hosts
and drivers other than Python's ``sqlite3`` are refused: each could name another file.

Opening. The database's folder is opened race-free beneath its root (:mod:`.beneath`,
through :func:`.files.open_parent`) and kept open as long as the engine. Each new
connection checks, relative to that folder's descriptor, that the database is a regular
file and not a symbolic link (``sql.execute`` first creates a missing one there with
``O_CREAT | O_EXCL | O_NOFOLLOW``), then SQLite opens ``/proc/self/fd/<folder>/<name>``
with ``mode=rw``, so SQLite itself never creates a main database file. SQLite's unix VFS
does not keep that descriptor path: it turns it into the folder's real path, reading
symbolic links as text, and opens that. So after the open the connection is confirmed:
a file descriptor opened during the connection must be the very file (device and inode)
found beneath the folder's descriptor; if not (a folder was swapped for a link while
SQLite resolved the path), the connection is closed unused and the call refused
(retryable). No SQL runs on a database outside the root. (Measured on the race test:
without this check about 12 in 20,000 connections opened the file outside.) The check
looks at the descriptors opened while SQLite connected, one connection at a time, and
has two imperfections: SQLite sometimes reuses a descriptor it kept for the same file,
and then the connection cannot be confirmed and the call is retried (a cost, not a
hole); and another thread of the worker opening that very file at that instant would
count as confirmation, so a swap won at that same instant would go unnoticed.

Statements. Every connection (files and in-memory) gets a SQLite authorizer refusing
``ATTACH`` of any file (hence ``VACUUM INTO``, which attaches its target; a plain
``VACUUM`` attaches only a private temporary database and is allowed), ``DETACH``,
``load_extension`` and ``fts3_tokenizer`` (native code, raw pointers), the
``temp_store_directory`` and ``data_store_directory`` pragmas, and setting
``writable_schema`` or ``schema_version``. The refused statement fails ("not
authorized"); :func:`refusal` words the error.

Remaining race, stated: SQLite opens a database's ``-journal``, ``-wal`` and ``-shm``
files beside it by that textual path, at each transaction (``-journal``) or when the
connection first reads (``-wal``, ``-shm``), and never follows a symbolic link as the
last component. For a database *in a subfolder* of a root, someone who can create
symbolic links inside the root (a local account with write access to it; step authors
cannot) and swaps a subfolder for a link at that moment can make SQLite create or read
those side files in another folder. A database directly in a root has no such
component (the root's own path is the Administrator's): put databases there when other
accounts may write into the root.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.pool import QueuePool

from flowat_kernel.config import settings
from flowat_kernel.errors import ConfigError
from flowat_kernel.sdk import ActionError

from .beneath import EscapeError, parts
from .files import DEFAULT_ROOT, open_parent

__all__ = ["Database", "classify", "creating", "engine", "locate", "memory_engine", "refusal"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DRIVERS = ("sqlite", "sqlite+pysqlite")
_FIX = (
    "SQLite databases live in a files root an Owner or Administrator configures "
    "(FLOWAT_FILES_ROOTS=name=/folder,...; default data=FLOWAT_HOME/data): put the "
    "database there and write sqlite:///path/in/root.db with root=NAME"
)


@dataclass(frozen=True)
class Database:
    """A SQLite database file: the files root's name, its folder and the path inside it."""

    root: str
    folder: str
    path: str

    @property
    def key(self) -> str:
        """What engines are cached by (the folder too: configuration may change)."""
        return f"sqlite:{self.root}={self.folder}:{self.path}"


def _refuse(action: str, message: str) -> ActionError:
    return ActionError(f"{action}: {message}; {_FIX}", retryable=False)


def locate(url: URL, root: str | None, action: str) -> Database | None:
    """The database a SQLite URL names in root ``root``; ``None`` for an in-memory one.

    Raises:
        ActionError: the URL has options, a host, another driver or a ``file:`` name, or
            its path leads out of the root or lies in no configured root (not retryable).

    """
    if url.drivername not in _DRIVERS:
        raise _refuse(action, f"the SQLite driver {url.drivername!r} is not supported here")
    if url.query or url.host or url.username or url.password:
        options = ", ".join(f"?{name}=" for name in sorted(url.query)) or "a host or user"
        raise _refuse(
            action,
            f"a SQLite URL takes no options here ({options}; uri, mode, vfs, modeof and the "
            "like could name other files)",
        )
    name = url.database or ""
    if name in ("", ":memory:"):
        return None
    if name.startswith("file:"):
        raise _refuse(action, "a file: URI as SQLite database name is refused")
    try:
        roots = settings().files_roots
    except ConfigError as exc:
        raise ActionError(f"{action}: {exc}", retryable=False) from None
    if name.startswith("/"):
        root, name = _inside_a_root(name, root, roots, action)
    try:
        parts(name)
    except EscapeError as exc:
        raise _refuse(action, f"the SQLite database path {name!r} {exc}") from None
    root = root or DEFAULT_ROOT
    return Database(root, str(dict(roots).get(root, "")), name)


def _inside_a_root(
    absolute: str, root: str | None, roots: tuple[tuple[str, Path], ...], action: str
) -> tuple[str, str]:
    """``absolute`` as (root, path inside it), if it lies in a configured root."""
    if ".." in PurePosixPath(absolute).parts:
        raise _refuse(action, f"the SQLite database path {absolute!r} contains '..'")
    for name, folder in roots:
        if root is not None and name != root:
            continue
        for base in dict.fromkeys((folder, folder.resolve())):
            if Path(absolute).is_relative_to(base) and Path(absolute) != base:
                return name, Path(absolute).relative_to(base).as_posix()
    within = f"files root {root!r}" if root is not None else "any configured files root"
    listed = ", ".join(f"{n} ({f})" for n, f in roots) or "(none)"
    raise _refuse(
        action,
        f"the SQLite database {absolute!r} is not inside {within} (the roots are {listed})",
    )


# -- statements ------------------------------------------------------------------------

_FORBIDDEN_PRAGMAS = {"temp_store_directory", "data_store_directory"}
_FIXED_PRAGMAS = {"writable_schema", "schema_version"}  # read them, never set them
#: load_extension runs native code; fts3_tokenizer hands out and takes raw pointers.
_FORBIDDEN_FUNCTIONS = {"load_extension", "fts3_tokenizer"}
_refused = threading.local()


def _authorize(
    code: int, arg1: str | None, arg2: str | None, database: str | None, trigger: str | None
) -> int:
    """The SQLite authorizer: deny what would leave the database or weaken it."""
    what = None
    if code == sqlite3.SQLITE_ATTACH and arg1 != "":  # '' is VACUUM's temporary database
        named = f" of {arg1!r}" if arg1 is not None else " of a file named by a parameter"
        what = f"ATTACH{named} (also how VACUUM INTO writes its copy)"
    elif code == sqlite3.SQLITE_DETACH:
        what = "DETACH"
    elif code == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _FORBIDDEN_FUNCTIONS:
        what = f"{(arg2 or '').lower()}()"
    elif code == sqlite3.SQLITE_PRAGMA:
        pragma = (arg1 or "").lower()
        if pragma in _FORBIDDEN_PRAGMAS or (pragma in _FIXED_PRAGMAS and arg2 is not None):
            what = f"PRAGMA {pragma}"
    if what is None:
        return sqlite3.SQLITE_OK
    _refused.what = what
    return sqlite3.SQLITE_DENY


def refusal() -> str:
    """What to tell the author after the authorizer refused a statement."""
    what = getattr(_refused, "what", None) or "the statement"
    _refused.what = None
    return (
        f"{what} is refused: SQL on SQLite stays in its one database (no ATTACH, VACUUM "
        "INTO, DETACH, load_extension, fts3_tokenizer, temp_store_directory or "
        "data_store_directory, writable_schema or schema_version): query each database in "
        "its own call and combine the rows in a later step (duckdb.query takes them as "
        "tables)"
    )


_TRANSIENT = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_PROTOCOL,
}


def classify(error: sqlite3.Error) -> tuple[bool, str]:
    """Whether retrying a failed SQLite call may help, and what to tell the user to do."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF
    if code in _TRANSIENT:
        return True, "the database file is busy or unreadable for now; it will be retried"
    if code == sqlite3.SQLITE_READONLY:
        return False, "query only reads; use sql.execute for statements that change data"
    if code == sqlite3.SQLITE_CANTOPEN:
        return False, "check the database's path in its files root and the root"
    if code == sqlite3.SQLITE_AUTH or str(error).startswith("not authorized"):
        return False, refusal()
    return False, "fix the SQL or its parameters"


def _guard(connection: sqlite3.Connection) -> None:
    connection.set_authorizer(_authorize)


def memory_engine() -> Engine:
    """An engine for private in-memory databases, its connections guarded."""
    engine = create_engine("sqlite://", hide_parameters=True)
    event.listen(engine, "connect", lambda connection, _record: _guard(connection))
    return engine


# -- files -----------------------------------------------------------------------------

_may_create: contextvars.ContextVar[bool] = contextvars.ContextVar("may_create", default=False)
_opening = threading.Lock()  # one connection opens at a time: see _open_files


@contextlib.contextmanager
def creating() -> Iterator[None]:
    """Within this block, connecting creates a missing database file (``sql.execute``)."""
    token = _may_create.set(True)
    try:
        yield
    finally:
        _may_create.reset(token)


def _open_files() -> set[tuple[int, int, int]]:
    """(descriptor, device, inode) of each regular file this process has open."""
    found = set()
    for entry in os.listdir("/proc/self/fd"):
        try:
            info = os.stat(f"/proc/self/fd/{entry}")
        except OSError:  # closed meanwhile, or the listing's own descriptor
            continue
        if stat.S_ISREG(info.st_mode):
            found.add((int(entry), info.st_dev, info.st_ino))
    return found


class _Folder:
    """The open folder of one database, shared by an engine's connections."""

    def __init__(self, fd: int, name: str, shown: Path) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        self.name = name
        self.shown = shown

    @property
    def action(self) -> str:
        """The action connecting (an engine serves both)."""
        return "sql.execute" if _may_create.get() else "sql.query"

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def connect(self) -> sqlite3.Connection:
        """A new guarded connection to the database, confirmed to be the file beneath."""
        with self._lock:  # dup under the lock: a closed number may already be reused
            if self._fd < 0:
                raise ActionError(
                    f"{self.action}: the database's engine was closed meanwhile; retrying",
                    retryable=True,
                )
            folder = os.dup(self._fd)
        try:
            self._check(folder)
            return self._open(folder)
        finally:
            os.close(folder)

    def _fail(self, problem: str, retryable: bool = False) -> ActionError:
        return ActionError(f"{self.action}: {self.shown}: {problem}", retryable=retryable)

    def _check(self, folder: int) -> None:
        """The database is a regular file in ``folder`` (created if allowed and missing)."""
        try:
            info = os.stat(self.name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            if not _may_create.get():
                raise self._fail(
                    "no such database file; check the path and root, or create it with sql.execute"
                ) from None
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.name, flags, 0o666, dir_fd=folder))
            info = os.stat(self.name, dir_fd=folder, follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            raise self._fail(
                "a symbolic link is in the way; links are never followed in a files root, "
                "since one could lead out of it: use the real path"
            )
        if not stat.S_ISREG(info.st_mode):
            raise self._fail("not a regular file, so not a SQLite database")

    def _open(self, folder: int) -> sqlite3.Connection:
        uri = f"file:/proc/self/fd/{folder}/{quote(self.name, safe='')}?mode=rw"
        with _opening:
            before = _open_files()
            connection = sqlite3.connect(uri, uri=True, timeout=15, check_same_thread=False)
            opened = {(dev, ino) for _, dev, ino in _open_files() - before}
        try:
            info = os.stat(self.name, dir_fd=folder, follow_symlinks=False)
            confirmed = stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) in opened
        except OSError:
            confirmed = False
        if not confirmed:
            connection.close()
            raise self._fail(
                "SQLite could not be confirmed to have opened this file (a folder or the "
                "file was replaced while it opened, perhaps by a symbolic link); nothing "
                "ran, retrying",
                retryable=True,
            )
        _guard(connection)
        return connection


def engine(database: Database, action: str, **pool: Any) -> Engine:
    """An engine whose connections open ``database`` beneath its root, guarded.

    The database's folder stays open until the engine is disposed.

    Raises:
        ActionError: no such root, folder or file, or a link in the way (not retryable).

    """
    if not os.path.isdir("/proc/self/fd"):
        raise ActionError(
            f"{action}: SQLite files need /proc/self/fd (Linux) to be opened inside a files "
            "root; use PostgreSQL or an in-memory database here",
            retryable=False,
        )
    fd, name, shown = open_parent(database.root, database.path, action, _may_create.get())
    folder = _Folder(fd, name, shown)
    try:
        result = create_engine(
            f"sqlite+pysqlite:///{quote(str(shown))}",
            creator=folder.connect,
            poolclass=QueuePool,
            hide_parameters=True,
            **pool,
        )
    except BaseException:
        folder.close()
        raise
    event.listen(result, "engine_disposed", lambda _engine: folder.close())
    return result
