"""The metadata store on real SQLite and PostgreSQL, and the Redis definition cache."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from flowat_kernel.errors import NotFoundError
from flowat_kernel.spec import StepSpec, WorkflowSpec
from flowat_kernel.store import Store, VersionRecord
from flowat_kernel.store.database import HEAD_REVISION
from flowat_kernel.store.tables import Base

MIGRATIONS = Path(__file__).resolve().parents[2] / "flowat_kernel" / "store" / "migrations"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
DEAD_REDIS = "redis://127.0.0.1:1/0"


def make_spec(name: str, source: str = "x = 1") -> WorkflowSpec:
    return WorkflowSpec(
        name=name,
        steps=(
            StepSpec(name="load", source=source, exports=("x",)),
            StepSpec(name="train", source="y = 2", exports=("y",)),
            StepSpec(name="report", source="z = 3", after=("train",)),
        ),
        edges=(),
    )


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'flowat.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    result = Store(store_url)
    yield result
    result.close()


@pytest.fixture
def owner() -> str:
    return f"owner-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def name() -> str:
    return f"wf_{uuid.uuid4().hex[:10]}"


# -- versions -----------------------------------------------------------------------------------


def test_first_publish_is_version_one(store: Store, owner: str, name: str) -> None:
    spec = make_spec(name)
    before = datetime.now(UTC)
    version, created = store.publish(spec, owner, "alice")
    assert created is True
    assert (version.workflow, version.owner, version.number) == (name, owner, 1)
    assert version.created_by == "alice"
    assert version.spec_hash == spec.content_hash()
    assert version.spec == spec
    assert version.created_at.tzinfo is not None
    assert abs((version.created_at - before).total_seconds()) < 60
    assert store.list_workflows(owner) == [name]


def test_republishing_an_unchanged_spec_keeps_the_version(
    store: Store, store_url: str, owner: str, name: str
) -> None:
    first, _ = store.publish(make_spec(name), owner, "alice")
    again, created = store.publish(make_spec(name), owner, "bob")
    assert created is False
    assert (again.number, again.id, again.created_by) == (1, first.id, "alice")
    other = Store(store_url)
    try:
        from_other, created_other = other.publish(make_spec(name), owner, "carol")
    finally:
        other.close()
    assert (from_other.number, created_other) == (1, False)
    assert [v.number for v in store.list_versions(owner, name)] == [1]


def test_changed_spec_gets_the_next_version(store: Store, owner: str, name: str) -> None:
    v1, _ = store.publish(make_spec(name, "x = 1"), owner, "alice")
    v2, created = store.publish(make_spec(name, "x = 2"), owner, "alice")
    assert created is True
    assert v2.number == 2
    assert v2.spec_hash != v1.spec_hash
    # Publishing the first content again finds version 1; it does not make a version 3.
    back, created_back = store.publish(make_spec(name, "x = 1"), owner, "alice")
    assert (back.number, created_back) == (1, False)
    v3, _ = store.publish(make_spec(name, "x = 3"), owner, "alice")
    assert v3.number == 3


def test_versions_are_immutable(store: Store, store_url: str, owner: str, name: str) -> None:
    spec1 = make_spec(name, "x = 1")
    v1, _ = store.publish(spec1, owner, "alice")
    store.publish(make_spec(name, "x = 2"), owner, "alice")
    fresh = Store(store_url)  # its own cache: reads what the database holds
    try:
        stored = fresh.get_version(owner, name, 1)
    finally:
        fresh.close()
    assert stored.spec == spec1
    assert stored.spec.step("load").source == "x = 1"
    assert (stored.spec_hash, stored.id, stored.created_at) == (v1.spec_hash, v1.id, v1.created_at)
    with store.engine.connect() as conn:
        raw = conn.execute(
            sa.text("SELECT spec FROM workflow_versions WHERE id = :id"), {"id": v1.id}
        ).scalar_one()
    assert raw == spec1.canonical_json()


def test_get_version_latest_and_specific(store: Store, owner: str, name: str) -> None:
    for number in (1, 2, 3):
        store.publish(make_spec(name, f"x = {number}"), owner, "alice")
    latest = store.get_version(owner, name)
    assert latest.number == 3
    assert latest.spec.step("load").source == "x = 3"
    second = store.get_version(owner, name, 2)
    assert second.number == 2
    assert second.spec.step("load").source == "x = 2"
    assert isinstance(second, VersionRecord)


def test_list_versions_newest_first(store: Store, owner: str, name: str) -> None:
    specs = [make_spec(name, f"x = {n}") for n in range(4)]
    for spec in specs:
        store.publish(spec, owner, "alice")
    versions = store.list_versions(owner, name)
    assert [v.number for v in versions] == [4, 3, 2, 1]
    assert [v.spec for v in versions] == specs[::-1]


def test_owners_are_separate(store: Store, owner: str, name: str) -> None:
    store.publish(make_spec(name, "x = 1"), owner, "alice")
    store.publish(make_spec(name, "x = 2"), owner, "alice")
    other_owner = owner + "-other"
    theirs, created = store.publish(make_spec(name, "x = 1"), other_owner, "bob")
    assert (theirs.number, created) == (1, True)
    assert store.get_version(other_owner, name).number == 1
    assert store.get_version(owner, name).number == 2


def test_not_found_messages(store: Store, owner: str, name: str) -> None:
    with pytest.raises(NotFoundError) as caught:
        store.get_version(owner, name)
    assert str(caught.value) == (
        f"no workflow named {name!r}; publish it first "
        f"(flowat publish NOTEBOOK.ipynb --name {name}); no workflow is published yet"
    )
    store.publish(make_spec(name), owner, "alice")
    store.publish(make_spec(name, "x = 2"), owner, "alice")
    with pytest.raises(NotFoundError) as caught:
        store.get_version(owner, "missing_wf")
    assert "no workflow named 'missing_wf'; " in str(caught.value)
    assert str(caught.value).endswith(f"known workflows: {name}")
    with pytest.raises(NotFoundError) as caught:
        store.get_version(owner, name, 7)
    assert str(caught.value) == f"workflow {name!r} has no version 7; versions are 1 to 2"
    with pytest.raises(NotFoundError, match="no workflow named 'missing_wf'"):
        store.list_versions(owner, "missing_wf")
    with pytest.raises(NotFoundError, match="no run with id 'nope'"):
        store.get_run("nope")


# -- runs -------------------------------------------------------------------------------------


def _new_run(store: Store, version: VersionRecord, **parameters: object) -> str:
    run_id = uuid.uuid4().hex
    store.create_run(run_id, version, dict(parameters), "manual", f"temporal-{run_id}")
    return run_id


@pytest.mark.parametrize(
    ("final", "leftover"),
    [
        ("succeeded", "pending"),
        ("failed", "pending"),
        ("cancelled", "cancelled"),
        ("timed_out", "cancelled"),
    ],
)
def test_run_lifecycle(store: Store, owner: str, name: str, final: str, leftover: str) -> None:
    version, _ = store.publish(make_spec(name), owner, "alice")
    run_id = _new_run(store, version, rows=3, label="x")

    queued = store.get_run(run_id)
    assert (queued.run_id, queued.workflow, queued.version, queued.owner) == (
        run_id,
        name,
        1,
        owner,
    )
    assert (queued.status, queued.trigger, queued.parameters) == (
        "queued",
        "manual",
        {"rows": 3, "label": "x"},
    )
    assert queued.temporal_workflow_id == f"temporal-{run_id}"
    assert queued.started_at is None and queued.ended_at is None and not queued.finished
    assert [(s.name, s.status, s.attempts) for s in queued.steps] == [
        ("load", "pending", 0),
        ("train", "pending", 0),
        ("report", "pending", 0),
    ]

    store.run_started(run_id)
    started = store.get_run(run_id)
    assert started.status == "running"
    assert started.started_at is not None
    time.sleep(0.01)
    store.run_started(run_id)  # a replayed start keeps the first start time
    assert store.get_run(run_id).started_at == started.started_at

    store.step_started(run_id, "load", 1)
    store.step_finished(run_id, "load", "retrying", 1, error={"type": "OSError"}, logs="try 1")
    retrying = store.get_run(run_id).steps[0]
    assert (retrying.status, retrying.attempts, retrying.ended_at) == ("retrying", 1, None)
    assert retrying.error == {"type": "OSError"}
    store.step_started(run_id, "load", 2)
    store.step_finished(run_id, "load", "succeeded", 2, outputs={"x": {"inline": 1}}, logs="ok")
    store.step_started(run_id, "train", 1)

    store.run_finished(run_id, final, error=None if final == "succeeded" else {"step": "train"})
    done = store.get_run(run_id)
    assert done.status == final
    assert done.finished
    assert done.ended_at is not None and done.started_at == started.started_at
    assert done.duration_seconds is not None and done.duration_seconds >= 0
    assert done.error == (None if final == "succeeded" else {"step": "train"})
    load, train, report = done.steps
    assert (load.status, load.attempts, load.error, load.logs) == ("succeeded", 2, None, "ok")
    assert load.outputs == {"x": {"inline": 1}}
    assert load.started_at is not None and load.ended_at is not None
    assert load.duration_seconds is not None and load.duration_seconds >= 0
    assert (train.status, train.attempts) == ("cancelled", 1)  # was running when the run ended
    assert train.ended_at is not None
    assert (report.status, report.attempts, report.started_at) == (leftover, 0, None)


def test_run_finished_without_start_sets_both_times(store: Store, owner: str, name: str) -> None:
    version, _ = store.publish(make_spec(name), owner, "alice")
    run_id = _new_run(store, version)
    store.run_finished(run_id, "failed", error={"message": "worker lost"})
    run = store.get_run(run_id)
    assert run.status == "failed"
    assert run.started_at == run.ended_at
    assert {s.status for s in run.steps} == {"pending"}  # never ran: left as they were


def test_mark_step_failed_keeps_the_attempts_own_failure(
    store: Store, owner: str, name: str
) -> None:
    version, _ = store.publish(make_spec(name), owner, "alice")
    run_id = _new_run(store, version)
    store.step_started(run_id, "load", 1)
    store.step_finished(run_id, "load", "failed", 1, error={"message": "own"})
    store.mark_step_failed(run_id, "load", {"message": "from workflow"})
    store.mark_step_failed(run_id, "train", {"message": "from workflow"})
    load, train, _ = store.get_run(run_id).steps
    assert (load.status, load.error) == ("failed", {"message": "own"})
    assert (train.status, train.error) == ("failed", {"message": "from workflow"})


def test_list_runs_filtering(store: Store, owner: str, name: str) -> None:
    other_name = name + "_b"
    v_a, _ = store.publish(make_spec(name), owner, "alice")
    v_b, _ = store.publish(make_spec(other_name), owner, "alice")
    created = []
    for version in (v_a, v_b, v_a):
        created.append(_new_run(store, version))
        time.sleep(0.005)  # distinct creation times
    first_a, only_b, second_a = created

    runs = store.list_runs(owner)
    assert [r.run_id for r in runs] == [second_a, only_b, first_a]
    assert all(r.steps == () for r in runs)
    assert [r.workflow for r in runs] == [name, other_name, name]
    assert [r.run_id for r in store.list_runs(owner, workflow=name)] == [second_a, first_a]
    assert [r.run_id for r in store.list_runs(owner, workflow=other_name)] == [only_b]
    assert [r.run_id for r in store.list_runs(owner, limit=2)] == [second_a, only_b]
    assert store.list_runs(owner, workflow="no_such_workflow") == []
    assert store.list_runs(owner + "-other") == []


# -- schema: Alembic migration against the SQLAlchemy models -------------------------------------


@pytest.fixture(params=BACKENDS)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database nothing has touched yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    yield request.getfixturevalue("new_postgres_database")("flowat_fresh")


def test_migration_brings_a_fresh_database_to_head(fresh_url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION

    probe = sa.create_engine(fresh_url)
    assert sa.inspect(probe).get_table_names() == []
    probe.dispose()

    store = Store(fresh_url)
    try:
        with store.engine.connect() as conn:
            revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            assert revision == HEAD_REVISION
            inspector = sa.inspect(conn)
            migrated = set(inspector.get_table_names()) - {"alembic_version"}
            models = set(Base.metadata.tables)
            assert migrated == models
            assert models == {
                "workflows",
                "workflow_versions",
                "runs",
                "step_runs",
                "secrets",
                "secret_events",
                "secret_usage",
                "vault_keys",
                "circuit_breakers",
                "dead_letters",
                "organizations",
                "users",
                "memberships",
                "api_keys",
                "audit_log",
                "webhooks",
                "webhook_deliveries",
                "schedules",
                "sessions",
                "workers",
                "alerts",
                "alert_deliveries",
                "concurrency_limits",
                "run_admissions",
                "retention_policies",
                "retention_leases",
                "deleted_runs",
                "artifacts",
                "artifact_chunks",
                "rate_limits",
                "rate_limit_leases",
                "approval_links",
                "invitations",
            }
            for table in sorted(models):
                model = Base.metadata.tables[table]
                columns = {c["name"]: c for c in inspector.get_columns(table)}
                assert list(columns) == [c.name for c in model.columns], table
                for column in model.columns:
                    assert columns[column.name]["nullable"] == column.nullable, (table, column)
                assert {
                    i["name"]
                    for i in inspector.get_indexes(table)
                    if not i.get("duplicates_constraint")
                } == {i.name for i in model.indexes}, table
                assert {u["name"] for u in inspector.get_unique_constraints(table)} == {
                    c.name for c in model.constraints if isinstance(c, sa.UniqueConstraint)
                }, table
                assert sorted(
                    (fk["constrained_columns"], fk["referred_table"])
                    for fk in inspector.get_foreign_keys(table)
                ) == sorted(
                    ([fk.parent.name], fk.column.table.name) for fk in model.foreign_keys
                ), table
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        store.close()

    # Opening the migrated database again works and keeps the revision.
    again = Store(fresh_url)
    try:
        with again.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        again.close()


# -- concurrency (PostgreSQL) ------------------------------------------------------------------


def _publish_together(url: str, specs: list[WorkflowSpec], owner: str) -> list[tuple[int, bool]]:
    stores = [Store(url) for _ in specs]
    barrier = threading.Barrier(len(specs))
    results: list[tuple[int, bool] | None] = [None] * len(specs)
    errors: list[BaseException] = []

    def publish(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            version, created = stores[index].publish(specs[index], owner, f"user{index}")
            results[index] = (version.number, created)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(len(specs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for store in stores:
        store.close()
    assert not errors, errors
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


@pytest.mark.postgres
@pytest.mark.parametrize("publishers", [2, 8])
def test_concurrent_publish_gets_gapless_distinct_versions(
    postgres_url: str, owner: str, name: str, publishers: int
) -> None:
    specs = [make_spec(name, f"x = {i}") for i in range(publishers)]
    results = _publish_together(postgres_url, specs, owner)
    assert sorted(number for number, _ in results) == list(range(1, publishers + 1))
    assert all(created for _, created in results)
    store = Store(postgres_url)
    try:
        versions = store.list_versions(owner, name)
    finally:
        store.close()
    assert [v.number for v in versions] == list(range(publishers, 0, -1))
    by_number = {number: specs[i] for i, (number, _) in enumerate(results)}
    assert all(v.spec == by_number[v.number] for v in versions)


@pytest.mark.postgres
def test_concurrent_publish_of_the_same_spec_makes_one_version(
    postgres_url: str, owner: str, name: str
) -> None:
    results = _publish_together(postgres_url, [make_spec(name)] * 6, owner)
    assert [number for number, _ in results] == [1] * 6
    assert sum(created for _, created in results) == 1


# -- the Redis definition cache ----------------------------------------------------------------


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.mark.redis
def test_publish_writes_the_spec_to_redis_and_a_fresh_store_reads_it(
    store_url: str, redis_url: str, redis_client: redis.Redis, owner: str, name: str
) -> None:
    spec = make_spec(name)
    key = f"flowat:spec:{spec.content_hash()}"
    publisher = Store(store_url, redis_url=redis_url)
    try:
        version, _ = publisher.publish(spec, owner, "alice")
        assert redis_client.get(key) == spec.canonical_json().encode()

        # Spoil the database copy: a store with an empty process cache can now only
        # produce the right spec by reading it through Redis.
        with publisher.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE workflow_versions SET spec = 'not a spec' WHERE id = :id"),
                {"id": version.id},
            )
        reader = Store(store_url, redis_url=redis_url)
        try:
            assert reader.cache.get(spec.content_hash()) == spec
            fetched = reader.get_version(owner, name, 1)
        finally:
            reader.close()
        assert fetched.spec == spec
        assert fetched.spec_hash == spec.content_hash()
    finally:
        publisher.close()
        redis_client.delete(key)


@pytest.mark.redis
def test_a_store_read_fills_redis_again(
    store_url: str, redis_url: str, redis_client: redis.Redis, owner: str, name: str
) -> None:
    spec = make_spec(name)
    key = f"flowat:spec:{spec.content_hash()}"
    publisher = Store(store_url, redis_url=redis_url)
    try:
        publisher.publish(spec, owner, "alice")
        redis_client.delete(key)
        reader = Store(store_url, redis_url=redis_url)
        try:
            assert reader.get_version(owner, name).spec == spec
        finally:
            reader.close()
        assert redis_client.get(key) == spec.canonical_json().encode()
    finally:
        publisher.close()
        redis_client.delete(key)


def test_unreachable_redis_costs_only_speed(store_url: str, owner: str, name: str) -> None:
    store = Store(store_url, redis_url=DEAD_REDIS)
    started = time.monotonic()
    try:
        v1, created = store.publish(make_spec(name), owner, "alice")
        assert (v1.number, created) == (1, True)
        v2, _ = store.publish(make_spec(name, "x = 2"), owner, "alice")
        assert v2.number == 2
        assert store.get_version(owner, name, 1).spec == make_spec(name)
        assert [v.number for v in store.list_versions(owner, name)] == [2, 1]
    finally:
        store.close()
    reader = Store(store_url, redis_url=DEAD_REDIS)
    try:
        assert reader.get_version(owner, name).spec == make_spec(name, "x = 2")
    finally:
        reader.close()
    assert time.monotonic() - started < 20
