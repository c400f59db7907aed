"""Listing runs from a PostgreSQL store with psycopg alone (no SQLAlchemy).

What :mod:`~flowat_kernel.store.sqlite_listing` is for the embedded SQLite store, for
PostgreSQL: ``flowat runs`` reads the listing's queries
(:class:`~flowat_kernel.store.run_listing.RunReads`) over one psycopg connection, opened
from the store's URL as libpq reads it (``postgresql+psycopg://`` loses its driver
part), read-only, and never writes. Importing SQLAlchemy costs about 0.3 s here, psycopg
about 0.1 s. A store whose schema is not current, or a URL psycopg cannot open, is left
to the full store (:meth:`PostgresRunListing.open` returns ``None``), which migrates it
or says what is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flowat_kernel.errors import StoreError
from flowat_kernel.store.run_listing import RunReads

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresRunListing", "libpq_url"]

_SCHEMES = ("postgresql://", "postgres://")


def libpq_url(url: str) -> str | None:
    """``url`` as libpq takes it (``postgresql+DRIVER://`` without its driver), or ``None``.

    ``None`` for any other database, and for a URL carrying SQLAlchemy-only options
    (a query string): those are left to the full store.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0] not in ("postgresql", "postgres") or "?" in rest:
        return None
    return f"postgresql://{rest}"


class PostgresRunListing(RunReads):
    """The listing's reads on one psycopg connection (close it with :meth:`close`).

    Raises:
        StoreError: from every method, when the database cannot be read.

    """

    mark = "%s"

    def __init__(self, connection: psycopg.Connection[Any], url: str) -> None:
        self._connection = connection
        self._shown = url.rpartition("@")[2]  # host and database, never a password

    @classmethod
    def open(cls, url: str) -> PostgresRunListing | None:
        """A listing over a new read-only connection to ``url``, or ``None`` (see module)."""
        conninfo = libpq_url(url)
        if conninfo is None:
            return None
        try:
            import psycopg
        except ImportError:
            return None
        try:
            connection = psycopg.connect(
                conninfo,
                connect_timeout=10,
                autocommit=True,
                options="-c default_transaction_read_only=on",
            )
        except psycopg.Error:
            return None  # the full store tries, and says what is wrong
        return cls(connection, conninfo)

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            with self._connection.cursor() as cursor:
                cursor.execute(sql.encode(), tuple(parameters))
                return list(cursor.fetchall())
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot read runs from the metadata store at {self._shown}: "
                f"{exc.__class__.__name__}: {exc}"
            ) from exc

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()
