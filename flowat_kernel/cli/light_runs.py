"""``flowat runs`` for the local user, read with plain SQL without the workspace.

Listing runs is what a person types most, and it should answer as fast as Python
starts. The workspace (the one door) builds the whole store, the access services and
the ORM first; for the local user none of that decides anything: without
``FLOWAT_API_KEY`` the CLI acts as the Owner of the user's personal organization, who
may read every run of it. So, in exactly that case, this module reads the listing
itself (:mod:`~flowat_kernel.store.run_listing`): from a SQLite store with the standard
library's ``sqlite3`` and from PostgreSQL with psycopg (no SQLAlchemy either way), from
any other store, or a PostgreSQL one whose schema is not current, through its SQLAlchemy
engine's driver after the store's own schema check (Alembic only when the schema is not
current).

Every other case goes through the workspace as before (:func:`light_listing` returns
``None``): an API key (its role, scopes and workflows decide what is seen), a personal
organization not created yet (the workspace creates it), and queued runs waiting in a
concurrency limit's line (their places come from the store's limit records).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flowat_kernel.config import secure_home, settings
from flowat_kernel.store.run_models import RunRecord

if TYPE_CHECKING:
    from flowat_kernel.store.run_listing import RunReads

__all__ = ["API_KEY_VARIABLE", "Listing", "light_listing"]

#: ``flowat_kernel.workspace.principals.API_KEY_VARIABLE``, named here so that listing
#: does not import the access services (a test keeps the two equal).
API_KEY_VARIABLE = "FLOWAT_API_KEY"
_SQLITE = "sqlite:///"


@dataclass(frozen=True)
class Listing:
    """Recent runs and, by run id, what a running run waits for (``waiting for ...``)."""

    records: list[RunRecord]
    notes: dict[str, str]


def light_listing(workflow: str | None, limit: int) -> Listing | None:
    """The local user's recent runs, or ``None`` when the workspace must answer.

    A SQLite store whose schema is current is read with the standard library
    (:mod:`~flowat_kernel.store.sqlite_listing`); any other store through its SQLAlchemy
    engine's driver (:mod:`~flowat_kernel.store.run_listing`), after the store's own
    schema check.

    Raises:
        StoreError: the metadata store cannot be read.
        ConfigError: ``FLOWAT_DATABASE_URL`` is not usable.

    """
    if os.environ.get(API_KEY_VARIABLE, "").strip():
        return None
    config = settings()
    secure_home(config)
    url = config.database_url
    path = url[len(_SQLITE) :].split("?", 1)[0] if url.startswith(_SQLITE) else ""
    if path and path != ":memory:":
        from flowat_kernel.store.sqlite_listing import SqliteRunListing

        light = SqliteRunListing(Path(path).expanduser())
        if not light.current():
            return None  # a new or older store: the workspace creates or migrates it
        return _listing(light, config.owner, workflow, limit)
    from flowat_kernel.store.postgres_listing import PostgresRunListing

    direct = PostgresRunListing.open(url)
    if direct is not None:
        try:
            if direct.current():
                return _listing(direct, config.owner, workflow, limit)
        finally:
            direct.close()
    from flowat_kernel.store.database import make_engine, migrate
    from flowat_kernel.store.run_listing import RunListing

    engine = make_engine(url)
    try:
        migrate(engine)
        return _listing(RunListing(engine), config.owner, workflow, limit)
    finally:
        engine.dispose()


def _listing(listing: RunReads, owner: str, workflow: str | None, limit: int) -> Listing | None:
    if not listing.personal_organization(owner):
        return None
    records = listing.recent(owner, workflow, limit)
    if listing.in_line([r.run_id for r in records if r.status == "queued"]):
        return None
    waiting = listing.waiting_queues([r.run_id for r in records if r.status == "running"])
    notes = {
        run_id: "; ".join(f"waiting for a worker on {queue}" for queue in queues)
        for run_id, queues in waiting.items()
    }
    return Listing(records, notes)
