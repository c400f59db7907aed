"""Fixtures shared by the connector tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowat_kernel.runtime import reset_runtime


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A FLOWAT_HOME of the test's own (SQLite store and vault), no Temporal needed."""
    monkeypatch.setenv("FLOWAT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FLOWAT_DATABASE_URL", raising=False)
    monkeypatch.delenv("FLOWAT_REDIS_URL", raising=False)
    reset_runtime()
    yield tmp_path / "home"
    reset_runtime()
