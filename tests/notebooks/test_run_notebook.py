"""``flowat run --notebook NB.ipynb``: publish when changed, then run (a real CLI process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat

import flowat_kernel as flowat
from tests.notebooks.examples import FOLDER, prepared

CLI = [sys.executable, "-m", "flowat_kernel.cli.main"]


def _flowat(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)


def test_run_notebook_publishes_when_changed(temporal: str, tmp_path: Path) -> None:
    path = tmp_path / "api_to_duckdb.ipynb"
    path.write_text((FOLDER / "api_to_duckdb.ipynb").read_text())
    with prepared(FOLDER / "api_to_duckdb.ipynb") as parameters:
        url = f"api_url={parameters['api_url']}"
        first = _flowat("run", "--notebook", str(path), "-p", url, "-p", "min_amount=100")
        assert first.returncode == 0, first.stderr
        assert "api_to_duckdb: " in first.stderr and " run " in first.stdout
        assert "report.report = {'regions': 2" in first.stdout or '"regions": 2' in first.stdout
        again = _flowat("run", "--notebook", str(path), "-p", url, "--json")
        assert again.returncode == 0, again.stderr
        document = json.loads(again.stdout)
        assert document["status"] == "succeeded"
        assert document["outputs"]["report"]["report"]["regions"] == 4
        notebook = nbformat.read(path, as_version=4)
        report = next(c for c in notebook.cells if c.source.startswith("%%flowat step report"))
        report.source += "\nreport['changed'] = True"
        nbformat.write(notebook, path)
        third = _flowat("run", "--notebook", str(path), "-p", url, "--json", "--worker", "always")
        # A new version, the newest: other runs of this notebook in the session (the
        # papermill engine publishes its own one-attempt variant) may have added some.
        published = json.loads(third.stdout)["version"]
        assert published > document["version"]
        assert published == max(v.number for v in flowat.versions("api_to_duckdb"))


def test_run_notebook_bad_input(temporal: str, tmp_path: Path) -> None:
    missing = _flowat("run", "--notebook", str(tmp_path / "nope.ipynb"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    bad = _flowat("run", "--notebook", str(broken))
    assert bad.returncode == 2 and "not a readable Jupyter notebook" in bad.stderr
    both = _flowat("run", "--notebook", str(broken), "--version", "2")
    assert both.returncode == 2 and "--version and --notebook" in both.stderr
    neither = _flowat("run")
    assert neither.returncode == 2 and "name a WORKFLOW" in neither.stderr
    unknown = _flowat("run", "--notebook", str(FOLDER / "scoring.ipynb"), "-p", "nope=1")
    assert unknown.returncode == 2 and "unknown parameter nope" in unknown.stderr
