"""Fixtures of the AI tests: an API key in the vault, the loopback OpenAI-compatible fake."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import flowat_kernel as flowat
from tests.connectors.fake_openai import FakeOpenAI


@pytest.fixture
def api_key(temporal: str) -> tuple[str, str]:
    """A secret in the vault: its name and value."""
    name = f"openai_{uuid.uuid4().hex[:8]}"
    value = f"sk-test-{uuid.uuid4().hex}"
    flowat.set_secret(name, value)
    return name, value


@pytest.fixture
def fake(api_key: tuple[str, str]) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=api_key[1]) as server:
        yield server
