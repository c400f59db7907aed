"""Docs are tested: every command, magic and setting has a section; the schema is current."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from flowat_kernel.cli.main import build_parser
from flowat_kernel.spec import json_schema

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "user-guide.md").read_text()
HEADINGS = [line for line in GUIDE.splitlines() if line.startswith("#")]


def _commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


@pytest.mark.parametrize("command", _commands())
def test_every_cli_command_has_a_section(command: str) -> None:
    assert any(f"`flowat {command}" in h for h in HEADINGS), (
        f"docs: no section for flowat {command}"
    )


def _magics() -> list[str]:
    """Every ``%flowat`` command the magics class answers, plus the cell magics."""
    from flowat_kernel.notebook.magics import FlowAtMagics

    commands = sorted(n.removeprefix("_cmd_") for n in dir(FlowAtMagics) if n.startswith("_cmd_"))
    return ["%%flowat step", "%%flowat sql", *(f"%flowat {c}" for c in commands)]


@pytest.mark.parametrize("magic", _magics())
def test_every_magic_has_a_section(magic: str) -> None:
    assert any(f"`{magic}" in h for h in HEADINGS), f"docs: no section for {magic}"


def test_every_setting_is_documented() -> None:
    config = ("config.py", "config_values.py", "config_home.py")
    source = "".join((ROOT / "flowat_kernel" / name).read_text() for name in config)
    source += (ROOT / "flowat_kernel" / "vault" / "keyring.py").read_text()
    source += (ROOT / "flowat_kernel" / "sdk" / "breaker.py").read_text()
    settings = set(re.findall(r"FLOWAT_[A-Z_]+", source)) - {"FLOWAT_TEMPORAL_TLS_"}
    settings |= {f"FLOWAT_TEMPORAL_TLS_{p}" for p in ("CERT", "KEY", "CA")}
    missing = sorted(s for s in settings if f"`{s}`" not in GUIDE)
    assert not missing, f"docs/user-guide.md does not document {missing}"


def test_published_schema_is_current() -> None:
    published = json.loads((ROOT / "docs" / "workflow-spec.schema.json").read_text())
    assert published == json_schema(), "regenerate docs/workflow-spec.schema.json (flowat schema)"
