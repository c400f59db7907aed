"""Engines for the metadata store, and bringing its schema up to date with Alembic."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowat_kernel.errors import ConfigError, StoreError
from flowat_kernel.fslock import locked

if TYPE_CHECKING:
    from sqlalchemy import Engine

# SQLAlchemy is imported inside the functions, so that reading HEAD_REVISION (the
# light run listing of ``flowat runs`` does) does not import it.

__all__ = ["HEAD_REVISION", "make_engine", "migrate"]

#: The newest migration; a store at this revision needs no Alembic run.
HEAD_REVISION = "0014"
_MIGRATIONS = Path(__file__).with_name("migrations")
_migrated: set[str] = set()
_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout.

    Raises:
        ConfigError: the URL is malformed or names a driver that is not installed.

    """
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"FLOWAT_DATABASE_URL is not a database URL ({exc}); "
            "use e.g. postgresql+psycopg://user@host/db"
        ) from exc
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                parsed, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8
            )
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(parsed, pool_pre_ping=True, pool_size=8, max_overflow=16)
    except (ArgumentError, ImportError) as exc:
        raise ConfigError(f"cannot use database URL {parsed!r}: {exc}") from exc
    return engine


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Serialise migrations across processes: a file lock for SQLite, an advisory lock else."""
    database = engine.url.database
    if engine.url.get_backend_name() == "sqlite" and database and database != ":memory:":
        with locked(Path(f"{database}.migrate.lock")):
            yield
    else:
        yield


def _current_revision(engine: Engine) -> str | None:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        return None


def migrate(engine: Engine) -> None:
    """Bring the schema to :data:`HEAD_REVISION` (once per engine URL and process).

    Raises:
        StoreError: the database cannot be reached or the migration fails.

    """
    key = str(engine.url)
    if key in _migrated:
        return
    with _lock:
        if key in _migrated:
            return
        if _current_revision(engine) != HEAD_REVISION:
            from alembic import command
            from alembic.config import Config
            from sqlalchemy import text
            from sqlalchemy.exc import SQLAlchemyError

            config = Config()
            config.set_main_option("script_location", str(_MIGRATIONS))
            try:
                with _migration_lock(engine), engine.begin() as conn:
                    if conn.dialect.name == "postgresql":
                        conn.execute(text("SELECT pg_advisory_xact_lock(7311400221)"))
                    config.attributes["connection"] = conn
                    command.upgrade(config, "head")
            except SQLAlchemyError as exc:
                raise StoreError(
                    f"cannot prepare the metadata store at {engine.url!r}: "
                    f"{exc.__class__.__name__}: {getattr(exc, 'orig', exc)}. "
                    "Check FLOWAT_DATABASE_URL and that the database server is running."
                ) from exc
        _migrated.add(key)
