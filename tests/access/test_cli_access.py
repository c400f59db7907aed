"""``flowat access``: organizations, roles, session tokens and the audit log from the CLI."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from flowat_kernel.access import access
from flowat_kernel.cli.main import main


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_organizations_roles_tokens_and_audit(
    flowat_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    slug = f"team-{uuid.uuid4().hex[:6]}"
    assert _json(capsys, "access", "create-org", slug, "--name", "Team")["slug"] == slug  # type: ignore[index]
    orgs = _json(capsys, "access", "orgs")
    assert {o["slug"] for o in orgs} >= {slug}  # type: ignore[union-attr]
    assert _json(capsys, "access", "set-role", "alice", "editor", "--org", slug) == {
        "user": "alice",
        "role": "editor",
    }
    members = _json(capsys, "access", "members", "--org", slug)
    assert {m["user"]: m["role"] for m in members}["alice"] == "editor"  # type: ignore[union-attr]
    token = _json(capsys, "access", "token", "--org", slug, "--ttl", "5m")["token"]  # type: ignore[index]
    principal = access().authenticate(token)
    assert principal.owner == slug and principal.via == "session"
    assert _json(capsys, "access", "rotate-signing-key")["signing_key"]  # type: ignore[index]
    audit = _json(capsys, "access", "audit", "--org", slug)
    assert [e["action"] for e in audit][:2] == ["member.role_changed", "organization.created"]  # type: ignore[union-attr]
    assert main(["access", "members", "--org", "not-mine-" + slug]) == 2
    assert "not a member" in capsys.readouterr().err
    assert main(["access", "create-org", slug]) == 2
    assert "exists" in capsys.readouterr().err
