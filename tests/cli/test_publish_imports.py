"""``flowat publish`` needs the compiler and the store only: no Temporal, engine, server,
data libraries or nbformat (whose JSON-schema validators take seconds to import here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

#: Modules publishing must not import (prefixes).
NOT_FOR_PUBLISHING = (
    "temporalio",
    "flowat_kernel.engine",
    "flowat_kernel.server",
    "flowat_kernel.papermill",
    "pandas",
    "pyarrow",
    "duckdb",
    "nbformat",
    "jsonschema",
)


def _notebook(path: Path) -> Path:
    cells = [
        {"cell_type": "markdown", "id": "m", "metadata": {}, "source": "# Title"},
        {
            "cell_type": "code",
            "id": "p",
            "metadata": {"tags": ["parameters"]},
            "outputs": [],
            "execution_count": None,
            "source": "rows = 3",
        },
        {
            "cell_type": "code",
            "id": "a",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
            "source": ["%%flowat step load\n", "%time data = list(range(rows))"],
        },
        {
            "cell_type": "code",
            "id": "b",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
            "source": "%%flowat step total --when 'rows > 0'\ntotal = sum(data)",
        },
    ]
    document = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(document))
    return path


def _publish(notebook: Path, home: Path) -> tuple[dict[str, object], set[str]]:
    command = [str(notebook), "--name", "imports_check", "--json"]
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "flowat_kernel.cli.main", "publish", *command],
        capture_output=True,
        text=True,
        env={**os.environ, "FLOWAT_HOME": str(home)},
        timeout=120,
        check=True,
    )
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    return json.loads(result.stdout), imported


def test_publishing_imports_neither_temporal_nor_the_engine(tmp_path: Path) -> None:
    notebook = _notebook(tmp_path / "nb.ipynb")
    first, imported_first = _publish(notebook, tmp_path / "home")
    assert first["created"] is True and first["steps"] == ["load", "total"]
    again, imported = _publish(notebook, tmp_path / "home")
    assert again["created"] is False and again["version"] == first["version"]
    for modules in (imported_first, imported):
        assert "flowat_kernel.store" in modules, "the check must see the imports"
        assert not {m for m in modules if m.startswith(NOT_FOR_PUBLISHING)}
    assert "alembic" not in imported, "migrations run once, in a new home"
    assert "IPython" in imported, "a step with a magic is read as IPython reads it"
    assert "flowat_kernel.expressions" in imported, "--when is checked at publish time"
