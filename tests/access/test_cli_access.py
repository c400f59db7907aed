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


def test_the_organizations_egress_policy(
    flowat_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWAT_EGRESS", "auto")
    slug = f"egress-{uuid.uuid4().hex[:6]}"
    _json(capsys, "access", "create-org", slug)
    assert _json(capsys, "access", "egress", "--org", slug) == {
        "organization": slug,
        "egress": "installation",
        "installation": "auto",
        "effective": "auto",
    }
    shown = _json(capsys, "access", "egress", "open", "--org", slug)
    assert shown["egress"] == "open" and shown["effective"] == "open"  # type: ignore[index]
    assert access().directory.organization(slug).egress == "open"
    monkeypatch.setenv("FLOWAT_EGRESS", "public")  # the installation's public stays
    assert _json(capsys, "access", "egress", "--org", slug)["effective"] == "public"  # type: ignore[index]

    assert main(["access", "egress", "closed", "--org", slug]) == 2
    assert "choose one of auto, open, public, installation" in capsys.readouterr().err
    assert access().directory.organization(slug).egress == "open"

    # An Administrator (the local user, in another's organization) cannot change it.
    from flowat_kernel.access import Role, local_principal

    other = f"egress-other-{uuid.uuid4().hex[:6]}"
    access().directory.create_organization(other, None, "carol")
    me = local_principal().user
    access().directory.set_role(other, me, Role.ADMINISTRATOR, "carol", Role.OWNER)
    assert main(["access", "egress", "--org", other]) == 0  # reading it is fine
    capsys.readouterr()
    assert main(["access", "egress", "public", "--org", other]) == 2
    assert "organization:write" in capsys.readouterr().err
    assert access().directory.organization(other).egress is None
