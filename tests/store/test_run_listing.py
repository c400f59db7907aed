"""``RunListing`` (an engine's driver, SQLite and PostgreSQL), ``SqliteRunListing`` (the
standard library's ``sqlite3``) and ``PostgresRunListing`` (psycopg alone) read what the
store's ORM reads.

Also when ``flowat runs``'s light path hands over to the workspace (``cli/light_runs.py``).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from flowat_kernel.cli import light_runs
from flowat_kernel.spec import StepSpec, WorkflowSpec
from flowat_kernel.store import Store
from flowat_kernel.store.clock import utcnow
from flowat_kernel.store.database import HEAD_REVISION
from flowat_kernel.store.postgres_listing import PostgresRunListing, libpq_url
from flowat_kernel.store.run_listing import RunListing, RunReads
from flowat_kernel.store.run_records import StepWrite
from flowat_kernel.store.sqlite_listing import SqliteRunListing
from flowat_kernel.workspace.principals import API_KEY_VARIABLE
from tests.conftest import store_on

#: (backend, listing): the engine's driver on both databases, sqlite3 on SQLite.
LISTINGS = [
    ("sqlite", "core"),
    ("sqlite", "sqlite3"),
    pytest.param(("postgresql", "core"), marks=pytest.mark.postgres),
    pytest.param(("postgresql", "psycopg"), marks=pytest.mark.postgres),
]


@pytest.fixture(params=LISTINGS, ids=lambda p: "-".join(p))
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def store(
    backend: tuple[str, str], request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Store]:
    with store_on(backend[0], request, tmp_path) as opened:
        yield opened


@pytest.fixture
def listing(store: Store, backend: tuple[str, str]) -> Iterator[RunReads]:
    if backend[1] == "core":
        yield RunListing(store.engine)
    elif backend[1] == "psycopg":
        url = store.engine.url.render_as_string(hide_password=False)
        direct = PostgresRunListing.open(url)
        assert direct is not None, f"psycopg could not open {url}"
        yield direct
        direct.close()
    else:
        yield SqliteRunListing(Path(str(make_url(str(store.engine.url)).database)))


def _publish(store: Store, owner: str, name: str) -> object:
    spec = WorkflowSpec(
        name=name,
        steps=(
            StepSpec(name="train", source="y = 2", queue="gpu"),
            StepSpec(name="load", source="x = 1"),
        ),
    )
    version, _ = store.publish(spec, owner, "alice")
    return version


def _runs(store: Store, version: object, count: int) -> list[str]:
    ids = []
    for i in range(count):
        run_id = uuid.uuid4().hex
        store.create_run(run_id, version, {"n": i}, "cli", f"temporal-{run_id}")  # type: ignore[arg-type]
        ids.append(run_id)
    return ids


def test_recent_runs_read_as_the_store_reads_them(store: Store, listing: RunReads) -> None:
    owner, other = f"org-{uuid.uuid4().hex[:8]}", f"org-{uuid.uuid4().hex[:8]}"
    first, second = f"wf_{uuid.uuid4().hex[:8]}", f"wf_{uuid.uuid4().hex[:8]}"
    _runs(store, _publish(store, owner, first), 3)
    done = _runs(store, _publish(store, owner, second), 2)
    store.run_started(done[0])
    store.run_finished(done[0], "failed", {"type": "Boom", "message": "no"})
    _runs(store, _publish(store, other, first), 2)  # another organization's: never listed
    for workflow, limit in ((None, 20), (None, 2), (first, 20), (second, 1), ("nope", 20)):
        light = listing.recent(owner, workflow, limit)
        assert light == store.list_runs(owner, workflow, limit), (workflow, limit)
    everything = listing.recent(owner)
    assert len(everything) == 5
    assert {r.owner for r in everything} == {owner}
    ended = next(r for r in everything if r.run_id == done[0])
    assert (ended.status, ended.error) == ("failed", {"type": "Boom", "message": "no"})
    assert ended.created_at.tzinfo is not None and ended.ended_at is not None
    assert listing.recent(f"org-{uuid.uuid4().hex[:8]}") == []


def test_waiting_queues_and_the_line(store: Store, listing: RunReads) -> None:
    owner = f"org-{uuid.uuid4().hex[:8]}"
    version = _publish(store, owner, f"wf_{uuid.uuid4().hex[:8]}")
    waiting, retrying, plain = _runs(store, version, 3)
    for run_id in (waiting, retrying, plain):
        store.run_started(run_id)
    note = {"type": "WaitingForWorker", "queue": "gpu", "message": "waiting for a worker"}
    store.write_steps(
        [
            StepWrite(waiting, "train", "waiting", 0, utcnow(), error=note),
            # a retrying step's error names no queue to wait on
            StepWrite(retrying, "train", "retrying", 1, utcnow(), error={"queue": "gpu"}),
        ]
    )
    assert listing.waiting_queues([waiting, retrying, plain]) == {waiting: ["gpu"]}
    assert listing.waiting_queues([]) == {}
    assert listing.in_line([waiting]) is False
    assert listing.in_line([]) is False


def test_a_queued_run_in_a_limits_line_is_seen(store: Store, listing: RunReads) -> None:
    owner = f"org-{uuid.uuid4().hex[:8]}"
    name = f"wf_{uuid.uuid4().hex[:8]}"
    version = _publish(store, owner, name)
    store.set_concurrency_limit(owner, name, 1, "queue", "alice")
    holder, waiter = _runs(store, version, 2)
    assert store.admit_run(holder).decision == "admitted"
    assert store.admit_run(waiter).decision == "queued"
    assert listing.in_line([holder]) is False
    assert listing.in_line([holder, waiter]) is True


def test_personal_organization(store: Store, listing: RunReads) -> None:
    user = f"user-{uuid.uuid4().hex[:8]}"
    assert listing.personal_organization(user) is False
    store.ensure_personal_organization(user, "owner")
    assert listing.personal_organization(user) is True
    team = f"team-{uuid.uuid4().hex[:8]}"
    store.create_organization(team, team, user, "owner")
    assert listing.personal_organization(team) is False  # an organization, not personal


def test_the_sqlite_listing_reads_only_a_current_store(tmp_path: Path) -> None:
    """A missing file, or a schema at another revision: the full store answers (migrates)."""
    path = tmp_path / "flowat.db"
    assert SqliteRunListing(path).current() is False
    assert not path.exists()  # checking created nothing
    Store(f"sqlite:///{path}").close()
    assert SqliteRunListing(path).current() is True
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    assert SqliteRunListing(path).current() is False
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (HEAD_REVISION,))
    assert SqliteRunListing(path).current() is True
    (tmp_path / "not-a-store.db").write_text("hello")
    assert SqliteRunListing(tmp_path / "not-a-store.db").current() is False


@pytest.mark.postgres
def test_the_light_path_on_postgresql_reads_through_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_postgres_database: object
) -> None:
    url = new_postgres_database("flowat_light")  # type: ignore[operator]
    monkeypatch.setenv("FLOWAT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FLOWAT_DATABASE_URL", url)
    monkeypatch.setenv("FLOWAT_OWNER", "pg-user")
    monkeypatch.delenv(API_KEY_VARIABLE, raising=False)
    store = Store(url)
    try:
        assert light_runs.light_listing(None, 20) is None  # no personal organization yet
        store.ensure_personal_organization("pg-user", "owner")
        (run_id,) = _runs(store, _publish(store, "pg-user", "light"), 1)
    finally:
        store.close()
    listing = light_runs.light_listing("light", 5)
    assert listing is not None and [r.run_id for r in listing.records] == [run_id]


def test_the_light_path_hands_over_to_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An API key, or a personal organization not created yet: the workspace answers."""
    assert light_runs.API_KEY_VARIABLE == API_KEY_VARIABLE
    monkeypatch.setenv("FLOWAT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FLOWAT_DATABASE_URL", raising=False)
    monkeypatch.setenv("FLOWAT_OWNER", "light-user")
    monkeypatch.delenv(API_KEY_VARIABLE, raising=False)
    assert light_runs.light_listing(None, 20) is None  # no personal organization yet
    store = Store(f"sqlite:///{tmp_path / 'home' / 'flowat.db'}")
    try:
        store.ensure_personal_organization("light-user", "owner")
        version = _publish(store, "light-user", "light")
        (run_id,) = _runs(store, version, 1)
    finally:
        store.close()
    listing = light_runs.light_listing(None, 20)
    assert listing is not None
    assert [r.run_id for r in listing.records] == [run_id]
    assert listing.notes == {}
    monkeypatch.setenv(API_KEY_VARIABLE, "flowat_anything_else")
    assert light_runs.light_listing(None, 20) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg://u:p%40ss@db:5432/flowat", "postgresql://u:p%40ss@db:5432/flowat"),
        ("postgresql://u@db/flowat", "postgresql://u@db/flowat"),
        ("postgres://u@db/flowat", "postgresql://u@db/flowat"),
        ("postgresql+psycopg://u@/flowat?host=/run/postgresql", None),  # SQLAlchemy's options
        ("sqlite:///x.db", None),
        ("mysql+pymysql://u@db/flowat", None),
    ],
)
def test_which_urls_psycopg_reads_alone(url: str, expected: str | None) -> None:
    assert libpq_url(url) == expected


@pytest.mark.postgres
def test_psycopg_listing_is_read_only_and_hides_the_password(postgres_url: str) -> None:
    from flowat_kernel.errors import StoreError

    direct = PostgresRunListing.open(postgres_url)
    assert direct is not None
    try:
        with pytest.raises(StoreError, match="read-only") as refused:
            direct._read("CREATE TABLE listing_must_not_write (x int)")
        assert "@" not in str(refused.value).split("store at ", 1)[1].split(":", 1)[0]
    finally:
        direct.close()
    assert PostgresRunListing.open("postgresql://nobody@127.0.0.1:1/none") is None
