"""``flowat runs`` loads only what listing runs needs: the store, not Temporal or analytics.

Timing lives in benchmarks/bench_cli_startup.py; this pins the imports, which is what
keeps the command fast, with no timing assert.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

#: What listing runs must not load: the engine and Temporal, the REST server, the data
#: and analytics libraries, Alembic (the schema is current) and PyJWT (no token is used).
HEAVY = (
    "flowat_kernel.engine",
    "flowat_kernel.server",
    "flowat_kernel.analytics",
    "temporalio",
    "pandas",
    "numpy",
    "pyarrow",
    "duckdb",
    "IPython",
    "alembic",
    "jwt",
)
#: What listing runs must not load either: the ORM and its table models, the workspace
#: and the access services, the spec model, and on SQLite SQLAlchemy itself: ``flowat runs``
#: reads a SQLite store with ``sqlite3`` (``store/sqlite_listing.py``); ``flowat versions``
#: still reads through the store.
HEAVY_FOR_RUNS = (
    "sqlalchemy",
    "flowat_kernel.store.tables",
    "flowat_kernel.store.repository",
    "flowat_kernel.workspace",
    "flowat_kernel.access",
    "flowat_kernel.spec",
    "flowat_kernel.runtime",
)


def _run(home: Path, *argv: str, database: str | None = None) -> tuple[str, set[str]]:
    """Run ``flowat ARGV`` as a real process; its standard output and the modules it imported."""
    env = {**_env(), "FLOWAT_HOME": str(home)}
    if database is not None:
        env["FLOWAT_DATABASE_URL"] = database
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "flowat_kernel.cli.main", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    return result.stdout, imported


def _env() -> dict[str, str]:
    env = os.environ.copy()
    for name in ("FLOWAT_DATABASE_URL", "FLOWAT_TEMPORAL_ADDRESS", "FLOWAT_API_KEY"):
        env.pop(name, None)
    return env


def _heavy(modules: set[str], heavy: tuple[str, ...] = HEAVY) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in heavy or m.startswith(heavy))


@pytest.fixture(scope="module")
def home_with_a_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, set[str]]:
    """A home with a published workflow and one queued run (no Temporal needed).

    Also returns the modules of the home's first command, which created the store.
    """
    home = tmp_path_factory.mktemp("light-home")
    path = home / "light.ipynb"
    nbformat.write(
        new_notebook(
            cells=[
                new_code_cell("n = 1", metadata={"tags": ["parameters"]}),
                new_code_cell("%%flowat step double\ndoubled = n * 2"),
            ]
        ),
        path,
    )
    _, first = _run(home, "runs")  # a fresh home: the store is created and migrated
    subprocess.run([sys.executable, "-m", "flowat_kernel.cli.main", "publish", str(path),
                    "--name", "light"], env={**_env(), "FLOWAT_HOME": str(home)}, check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    script = textwrap.dedent(
        """
        from flowat_kernel import api
        from flowat_kernel.runtime import get_runtime
        version = api.versions("light")[0]
        get_runtime().store.create_run(
            "0123456789abcdef0123456789abcdef", version, {"n": 5}, "cli", "flowat-light-x"
        )
        """
    )
    subprocess.run(
        [sys.executable, "-c", script],
        env={**_env(), "FLOWAT_HOME": str(home)},
        check=True,
        capture_output=True,
        timeout=120,
    )
    return home, "0123456789abcdef0123456789abcdef", first


def test_the_first_command_of_a_home_migrates_its_store(
    home_with_a_run: tuple[Path, str, set[str]],
) -> None:
    """The import check sees what a command loads: a new store is migrated with Alembic."""
    _, _, first = home_with_a_run
    assert "alembic" in first
    assert "flowat_kernel.store" in first


@pytest.mark.parametrize(
    "argv",
    [["runs"], ["runs", "--json"], ["runs", "light", "--limit", "5"], ["versions", "light"]],
)
def test_listing_imports_nothing_heavy(
    home_with_a_run: tuple[Path, str, set[str]], argv: list[str]
) -> None:
    home, run_id, _ = home_with_a_run
    out, imported = _run(home, *argv)
    if argv[0] == "runs":
        assert run_id in out  # the run was really read from the store
    else:
        assert out.splitlines()[2].split()[0] == "1"  # version 1, under the header
    if "--json" in argv:
        assert json.loads(out)[0]["run_id"] == run_id
    assert "flowat_kernel.store" in imported
    assert _heavy(imported) == [], f"flowat {' '.join(argv)} imported {_heavy(imported)}"
    if argv[0] == "runs":
        heavy = _heavy(imported, HEAVY_FOR_RUNS)
        assert heavy == [], f"flowat {' '.join(argv)} imported {heavy}"
        assert "flowat_kernel.store.sqlite_listing" in imported  # read with sqlite3


def test_runs_with_an_api_key_go_through_the_workspace(
    home_with_a_run: tuple[Path, str, set[str]],
) -> None:
    """The light path is only the local user's: a key's role and scopes are checked."""
    home, run_id, _ = home_with_a_run
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "flowat_kernel.cli.main", "runs"],
        capture_output=True,
        text=True,
        env={**_env(), "FLOWAT_HOME": str(home), "FLOWAT_API_KEY": "flowat_nope_nope"},
        timeout=120,
    )
    assert result.returncode == 2  # refused: Unauthenticated
    assert "flowat: error: invalid API key" in result.stderr
    assert run_id not in result.stdout
    assert "flowat_kernel.access.keys" in result.stderr  # the key was checked


@pytest.mark.postgres
def test_runs_on_postgresql_are_read_with_psycopg_alone(
    tmp_path: Path, new_postgres_database: Callable[[str], str]
) -> None:
    """On PostgreSQL too, ``flowat runs`` loads neither SQLAlchemy nor the ORM."""
    database = new_postgres_database("flowat_light_runs")
    home = tmp_path / "pg-home"
    _run(home, "runs", database=database)  # the first command creates the store
    script = textwrap.dedent(
        """
        from flowat_kernel import api
        from flowat_kernel.testing import cells
        from flowat_kernel.runtime import get_runtime
        version = api.publish("light_pg", cells=cells("%%flowat step a\\nx = 1")).version
        get_runtime().store.create_run(
            "fedcba9876543210fedcba9876543210", version, {}, "cli", "flowat-light-pg"
        )
        """
    )
    subprocess.run(
        [sys.executable, "-c", script],
        env={**_env(), "FLOWAT_HOME": str(home), "FLOWAT_DATABASE_URL": database},
        check=True,
        capture_output=True,
        timeout=120,
    )
    out, imported = _run(home, "runs", "--json", database=database)
    assert [r["run_id"] for r in json.loads(out)] == ["fedcba9876543210fedcba9876543210"]
    assert "flowat_kernel.store.postgres_listing" in imported
    heavy = _heavy(imported, HEAVY_FOR_RUNS)
    assert heavy == [], f"flowat runs on PostgreSQL imported {heavy}"
