"""Access and trigger records on both real databases: SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from flowat_kernel.access import Conflict, Forbidden, Principal, Role, Unauthenticated
from flowat_kernel.access.audit import query
from flowat_kernel.access.directory import Directory
from flowat_kernel.access.keys import ApiKeys
from flowat_kernel.store import Store
from flowat_kernel.triggers.webhooks import Webhooks
from flowat_kernel.vault.vault import Vault


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'access.db'}"
    else:
        url = request.getfixturevalue("new_postgres_database")("flowat_access")
    opened = Store(url)
    yield opened
    opened.close()


def test_directory_keys_audit_and_deliveries(store: Store, tmp_path: Path) -> None:
    directory = Directory(store)
    personal = directory.ensure_personal("ada")
    assert personal.personal and directory.ensure_personal("ada") == personal
    directory.create_organization("acme", "Acme", "ada")
    with pytest.raises(Conflict):
        directory.create_organization("acme", None, "bob")
    directory.set_role("acme", "bob", Role.VIEWER, "ada", Role.OWNER)
    with pytest.raises(Forbidden):
        directory.set_role("acme", "bob", Role.OWNER, "bob", Role.ADMINISTRATOR)
    with pytest.raises(Conflict):
        directory.remove_member("acme", "ada", "ada", Role.OWNER)
    assert [(m.user, m.role) for m in directory.members("acme")] == [
        ("ada", Role.OWNER),
        ("bob", Role.VIEWER),
    ]

    keys = ApiKeys(store)
    owner = Principal(user="ada", owner="acme", role=Role.OWNER)
    created = keys.create(owner, name="k", scopes=["runs:read"], expires_in=timedelta(hours=1))
    principal = keys.authenticate(created.key)
    assert (principal.owner, principal.role, principal.scopes) == (
        "acme",
        Role.OWNER,
        ("runs:read",),
    )
    rotated = keys.rotate(owner, created.info.id, timedelta(0))
    with pytest.raises(Unauthenticated):
        keys.authenticate(created.key)
    assert keys.authenticate(rotated.key).owner == "acme"
    keys.revoke(owner, rotated.info.id)
    with pytest.raises(Unauthenticated):
        keys.authenticate(rotated.key)
    for_bob = keys.create(owner, name="b", scopes=["*"], user="bob")
    assert keys.authenticate(for_bob.key).role is Role.VIEWER
    directory.remove_member("acme", "bob", "ada", Role.OWNER)
    with pytest.raises(Unauthenticated):
        keys.authenticate(for_bob.key)

    actions = [e["action"] for e in query(store, "acme")]
    assert actions[0] == "member.removed" and "key.rotated" in actions
    assert actions[-1] == "organization.created"
    assert query(store, "acme", action="key.revoked")[0]["target"] == rotated.info.id
    assert query(store, "ada") == []

    hooks = Webhooks(Vault(store, tmp_path / "home", "ada"))
    made = hooks.create(owner, "wf", None, signed=True)
    info, key = hooks.resolve(made.token)
    assert info.id == made.info.id and key is not None and made.secret
    hooks.claim_delivery(info.id, "msg-1")
    with pytest.raises(Conflict):
        hooks.claim_delivery(info.id, "msg-1")
    hooks.release_delivery(info.id, "msg-1")
    hooks.claim_delivery(info.id, "msg-1")
    hooks.delete(owner, info.id)
    with pytest.raises(Unauthenticated):
        hooks.resolve(made.token)
