"""The vault on real SQLite and PostgreSQL: sealed rows, tampering, wrong keys, rotation."""

from __future__ import annotations

import json
import os
import stat
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from flowat_kernel.errors import (
    MasterKeyError,
    NotFoundError,
    SecretNotFound,
    VaultAuthenticationError,
    VaultError,
)
from flowat_kernel.store import Store
from flowat_kernel.store.tables import SecretEventRow, SecretRow, SecretUsageRow, VaultKeyRow
from flowat_kernel.vault.keyring import (
    ENV_VAR,
    add_active_key,
    encode_key,
    key_file,
    key_id,
    load_keyring,
    new_key,
)
from flowat_kernel.vault.vault import MAX_SECRET_BYTES, Vault

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
VAULT_TABLES = (SecretUsageRow, SecretEventRow, SecretRow, VaultKeyRow)


class SimulatedCrash(Exception):
    """Raised from on_batch to stop a rotation half-way, as a crash would."""


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own FLOWAT_MASTER_KEY must never leak into these tests."""
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def vault_postgres_url(new_postgres_database: Callable[[str], str]) -> str:
    """A PostgreSQL database of this module's own.

    Master-key rotation works on every row of a store, so the vault tables must hold
    only what the current test wrote: they are emptied before each test.
    """
    return new_postgres_database("flowat_vault")


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        result = Store(f"sqlite:///{tmp_path / 'flowat.db'}")
    else:
        result = Store(request.getfixturevalue("vault_postgres_url"))

        def empty(session: Session) -> None:
            for table in VAULT_TABLES:
                session.execute(sa.delete(table))

        result.transaction(empty)
    yield result
    result.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def owner() -> str:
    return f"org-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def vault(store: Store, home: Path, owner: str) -> Vault:
    return Vault(store, home, owner)


# -- helpers ----------------------------------------------------------------------------------


def secret_value() -> str:
    return f"sk-{uuid.uuid4().hex}{uuid.uuid4().hex}"


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def sealed_columns(store: Store, owner: str, name: str) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        row = session.scalars(
            sa.select(SecretRow).where(SecretRow.owner == owner, SecretRow.name == name)
        ).one()
        return {
            "nonce": row.nonce,
            "ciphertext": row.ciphertext,
            "tag": row.tag,
            "wrapped_key": row.wrapped_key,
            "key_id": row.key_id,
        }

    return store.transaction(work)


def update_row(store: Store, owner: str, name: str, /, **values: Any) -> None:
    def work(session: Session) -> None:
        result = session.execute(
            sa.update(SecretRow)
            .where(SecretRow.owner == owner, SecretRow.name == name)
            .values(**values)
        )
        assert isinstance(result, sa.CursorResult)
        assert result.rowcount == 1

    store.transaction(work)


def auth_error(vault: Vault, name: str, owner: str | None = None) -> str:
    with pytest.raises(VaultAuthenticationError) as caught:
        vault.reveal_value(name, owner)
    return str(caught.value)


def key_file_document(home: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(key_file(home).read_text())
    return document


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- set, reveal, metadata ----------------------------------------------------------------


def test_set_then_reveal(vault: Vault, owner: str, home: Path) -> None:
    value = secret_value()
    before = datetime.now(UTC)
    info = vault.set("openai_api_key", value, actor="alice")
    assert (info.name, info.owner, info.version) == ("openai_api_key", owner, 1)
    assert info.created_by == "alice"
    assert before <= info.created_at <= datetime.now(UTC)
    assert info.rotated_at is None and info.rotated_by is None
    assert info.last_used_at is None and info.used_by == ()
    assert info.key_id == key_file_document(home)["active"]
    assert value not in json.dumps(info.as_dict())
    assert vault.reveal_value("openai_api_key") == value
    # A second process (a new Vault on the same store and home) reads it too.
    assert Vault(vault.store, home, owner).reveal_value("openai_api_key") == value


def test_unicode_and_maximum_size_values_round_trip(vault: Vault) -> None:
    unicode_value = "pässwörd-✓-" + uuid.uuid4().hex
    vault.set("unicode", unicode_value)
    assert vault.reveal_value("unicode") == unicode_value
    largest = "x" * MAX_SECRET_BYTES
    vault.set("largest", largest)
    assert vault.reveal_value("largest") == largest


def test_owners_are_separate(vault: Vault, owner: str) -> None:
    mine, theirs = secret_value(), secret_value()
    vault.set("token", mine)
    vault.set("token", theirs, owner=owner + "-other")
    assert vault.reveal_value("token") == mine
    assert vault.reveal_value("token", owner + "-other") == theirs
    assert [s.name for s in vault.list_secrets()] == ["token"]
    assert vault.info("token").version == 1
    with pytest.raises(SecretNotFound):
        vault.reveal_value("token", owner + "-third")


def test_list_secrets_is_sorted_metadata(vault: Vault) -> None:
    for name in ("zeta", "alpha", "Mid_key", "beta.v2"):
        vault.set(name, secret_value())
    assert [s.name for s in vault.list_secrets()] == ["Mid_key", "alpha", "beta.v2", "zeta"]


def test_record_usage_tracks_workflows(vault: Vault) -> None:
    vault.set("db_password", secret_value())
    vault.set("api_token", secret_value())
    vault.record_usage(["db_password", "db_password"], "wf_etl")
    vault.record_usage(["db_password"], "wf_report")
    vault.record_usage(["api_token"], None)
    vault.record_usage([], "wf_nothing")
    db = vault.info("db_password")
    assert db.used_by == ("wf_etl", "wf_report")
    assert db.last_used_at is not None
    api = vault.info("api_token")
    assert api.used_by == ()
    assert api.last_used_at is not None


def test_delete_keeps_history_and_removes_usage(vault: Vault, store: Store, owner: str) -> None:
    vault.set("temp_key", secret_value(), actor="alice")
    vault.record_usage(["temp_key"], "wf_a")
    vault.delete("temp_key", actor="bob")
    with pytest.raises(SecretNotFound):
        vault.reveal_value("temp_key")
    assert vault.list_secrets() == []
    assert [(e["action"], e["by"]) for e in vault.history("temp_key")] == [
        ("set", "alice"),
        ("delete", "bob"),
    ]
    usage = store.transaction(
        lambda s: s.scalars(sa.select(SecretUsageRow).where(SecretUsageRow.owner == owner)).all()
    )
    assert usage == []
    with pytest.raises(SecretNotFound, match="nothing deleted"):
        vault.delete("temp_key")


# -- per-secret value rotation ----------------------------------------------------------------


def test_setting_again_rotates_the_value(vault: Vault) -> None:
    old, new = secret_value(), secret_value()
    before = datetime.now(UTC)
    assert vault.set("smtp_password", old, actor="alice").version == 1
    info = vault.set("smtp_password", new, actor="bob")
    after = datetime.now(UTC)
    assert info.version == 2
    assert info.created_by == "alice"
    assert info.rotated_by == "bob"
    assert info.rotated_at is not None and before <= info.rotated_at <= after
    assert vault.reveal_value("smtp_password") == new
    history = vault.history("smtp_password")
    assert [(e["action"], e["version"], e["by"]) for e in history] == [
        ("set", 1, "alice"),
        ("rotate", 2, "bob"),
    ]
    times = [datetime.fromisoformat(str(e["at"])) for e in history]
    assert all(before <= t <= after for t in times)
    assert times[0] <= times[1]
    assert old not in json.dumps(history) and new not in json.dumps(history)


def test_database_rows_never_hold_a_value(vault: Vault, store: Store) -> None:
    old, new = secret_value(), secret_value()
    vault.set("smtp_password", old, actor="alice")
    vault.set("smtp_password", new, actor="bob")
    vault.record_usage(["smtp_password"], "wf_mail")
    vault.payload_keys()
    cells: list[bytes] = []
    with store.engine.connect() as conn:
        for table in ("secrets", "secret_events", "secret_usage", "vault_keys"):
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")):
                for cell in row:
                    if isinstance(cell, bytes | bytearray | memoryview):
                        cells.append(bytes(cell))
                    else:
                        cells.append(str(cell).encode())
    assert b"smtp_password" in cells and b"wf_mail" in cells  # the scan sees the rows
    assert len([c for c in cells if len(c) == 16]) >= 1  # ... and the binary columns
    for cell in cells:
        assert old.encode() not in cell and new.encode() not in cell


def test_sqlite_file_bytes_hold_no_value(tmp_path: Path, home: Path, owner: str) -> None:
    database = tmp_path / "bytes.db"
    store = Store(f"sqlite:///{database}")
    try:
        vault = Vault(store, home, owner)
        old, new = secret_value(), secret_value()
        vault.set("smtp_password", old)
        vault.set("smtp_password", new)
        assert vault.reveal_value("smtp_password") == new
    finally:
        store.close()
    files = sorted(tmp_path.glob("bytes.db*"))
    assert database in files
    everything = b"".join(path.read_bytes() for path in files)
    assert b"smtp_password" in everything  # the bytes really hold the rows
    assert old.encode() not in everything
    assert new.encode() not in everything
    assert old[3:35].encode() not in everything


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "",
        "1password",
        "-leading-dash",
        ".leading-dot",
        "has space",
        "semi;colon",
        "slash/name",
        "quote'name",
        "ünïcode",
        "x" * 129,
        "api_key\n",
        "api\nkey",
        None,
        42,
    ],
)
def test_invalid_secret_names_are_refused(vault: Vault, name: Any) -> None:
    with pytest.raises(VaultError) as caught:
        vault.set(name, secret_value())
    message = str(caught.value)
    assert "is not a valid secret name" in message
    assert "letters, digits, '_', '.' or '-'" in message
    assert "starting with a letter or '_'" in message
    assert vault.list_secrets() == []


@pytest.mark.parametrize("name", ["a", "_x", "A1", "openai_api_key", "db.prod-1", "x" * 128])
def test_valid_secret_names_are_accepted(vault: Vault, name: str) -> None:
    value = secret_value()
    vault.set(name, value)
    assert vault.reveal_value(name) == value


def test_empty_value_is_refused(vault: Vault) -> None:
    with pytest.raises(VaultError, match="'token' is empty; nothing was stored"):
        vault.set("token", "")
    assert vault.list_secrets() == []


@pytest.mark.parametrize(
    "value",
    ["y" * (MAX_SECRET_BYTES + 1), "é" * (MAX_SECRET_BYTES // 2 + 1)],
    ids=["ascii", "two-byte-chars"],
)
def test_oversized_value_is_refused(vault: Vault, value: str) -> None:
    with pytest.raises(VaultError) as caught:
        vault.set("big", value)
    message = str(caught.value)
    assert f"{len(value.encode())} bytes; the limit is {MAX_SECRET_BYTES}" in message
    assert value[:32] not in message
    assert vault.list_secrets() == []


def test_non_text_value_is_refused(vault: Vault) -> None:
    with pytest.raises(VaultError, match="must be text"):
        vault.set("token", b"bytes-value")  # type: ignore[arg-type]


def test_missing_secret_says_how_to_set_it(vault: Vault, owner: str) -> None:
    with pytest.raises(SecretNotFound) as caught:
        vault.reveal_value("stripe_key")
    message = str(caught.value)
    assert "'stripe_key'" in message
    assert owner in message
    assert "`flowat secrets set stripe_key`" in message
    assert isinstance(caught.value, NotFoundError)
    with pytest.raises(SecretNotFound, match="'stripe_key'"):
        vault.info("stripe_key")


# -- tampering ----------------------------------------------------------------------------


def test_tampering_with_a_row_fails_with_one_message(
    vault: Vault, store: Store, owner: str
) -> None:
    value_a, value_b = secret_value(), secret_value()
    vault.set("alpha_key", value_a)
    vault.set("beta_key", value_b)
    a = sealed_columns(store, owner, "alpha_key")
    b = sealed_columns(store, owner, "beta_key")
    messages: dict[str, str] = {}

    for column in ("nonce", "ciphertext", "tag", "wrapped_key"):
        for index in (0, len(a[column]) // 2, -1):
            update_row(store, owner, "alpha_key", **{column: flip(a[column], index)})
            messages[f"{column}[{index}]"] = auth_error(vault, "alpha_key")
            update_row(store, owner, "alpha_key", **{column: a[column]})
            assert vault.reveal_value("alpha_key") == value_a  # restored: tampering mattered

    # The sealed parts of the two rows swapped.
    update_row(store, owner, "alpha_key", **b)
    update_row(store, owner, "beta_key", **a)
    messages["swap alpha"] = auth_error(vault, "alpha_key")
    messages["swap beta"] = auth_error(vault, "beta_key")
    update_row(store, owner, "alpha_key", **a)
    update_row(store, owner, "beta_key", **b)

    # Only the wrapped data key taken from the other row.
    update_row(store, owner, "alpha_key", wrapped_key=b["wrapped_key"])
    messages["wrapped key of beta"] = auth_error(vault, "alpha_key")
    update_row(store, owner, "alpha_key", wrapped_key=a["wrapped_key"])

    # The row renamed: it now claims to be another secret.
    update_row(store, owner, "alpha_key", name="gamma_key")
    messages["renamed"] = auth_error(vault, "gamma_key")
    update_row(store, owner, "gamma_key", name="alpha_key")

    assert vault.reveal_value("alpha_key") == value_a
    assert vault.reveal_value("beta_key") == value_b
    assert len(messages) == 16
    assert len(set(messages.values())) == 1, messages
    message = next(iter(messages.values()))
    assert "failed authentication" in message
    for secret in (value_a, value_b):
        assert secret not in message
        assert secret[3:19] not in message
    for part in (a["ciphertext"], a["tag"], a["nonce"]):
        assert part.hex() not in message


def test_a_row_moved_to_another_owner_fails(vault: Vault, store: Store, owner: str) -> None:
    value = secret_value()
    vault.set("token", value)
    thief = owner + "-thief"
    update_row(store, owner, "token", owner=thief)
    with pytest.raises(SecretNotFound):
        vault.reveal_value("token")
    message = auth_error(vault, "token", owner=thief)
    assert value not in message
    assert auth_error(Vault(store, vault.home, thief), "token") == message


def test_a_sealed_row_copied_onto_another_owners_row_fails(
    vault: Vault, store: Store, owner: str
) -> None:
    other = owner + "-other"
    value, decoy = secret_value(), secret_value()
    vault.set("token", value)
    vault.set("token", decoy, owner=other)
    update_row(store, other, "token", **sealed_columns(store, owner, "token"))
    message = auth_error(vault, "token", owner=other)
    assert value not in message and decoy not in message


# -- wrong or missing master keys -----------------------------------------------------------


def test_secret_read_with_another_environment_key_says_what_to_set(
    store: Store, home: Path, owner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_a, key_b = new_key(), new_key()
    value = secret_value()
    monkeypatch.setenv(ENV_VAR, encode_key(key_a))
    Vault(store, home, owner).set("token", value)
    monkeypatch.setenv(ENV_VAR, encode_key(key_b))
    with pytest.raises(MasterKeyError) as caught:
        Vault(store, home, owner).reveal_value("token")
    message = str(caught.value)
    assert key_id(key_a) in message
    assert f"{ENV_VAR} does not hold it" in message
    assert f"Set {ENV_VAR}" in message
    assert value not in message
    assert encode_key(key_b) not in message
    # Both keys in the variable: readable again.
    monkeypatch.setenv(ENV_VAR, f"{encode_key(key_b)},{encode_key(key_a)}")
    assert Vault(store, home, owner).reveal_value("token") == value
    assert not key_file(home).exists()


def test_secret_from_the_key_file_read_with_an_environment_key(
    vault: Vault, store: Store, home: Path, owner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = secret_value()
    vault.set("token", value)
    file_key = key_file_document(home)["active"]
    monkeypatch.setenv(ENV_VAR, encode_key(new_key()))
    with pytest.raises(MasterKeyError, match=f"master key {file_key} is needed"):
        Vault(store, home, owner).reveal_value("token")
    monkeypatch.delenv(ENV_VAR)
    assert Vault(store, home, owner).reveal_value("token") == value


def test_a_readable_key_file_is_refused_by_the_vault(vault: Vault, home: Path) -> None:
    vault.set("token", secret_value())
    key_file(home).chmod(0o644)
    fresh = Vault(vault.store, home, vault.owner)
    with pytest.raises(MasterKeyError, match="chmod 600"):
        fresh.reveal_value("token")
    with pytest.raises(MasterKeyError, match="chmod 600"):
        fresh.set("other", secret_value())


def test_a_malformed_environment_key_stops_the_vault(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, "definitely-not-a-key")
    with pytest.raises(MasterKeyError, match="is not a master key"):
        vault.set("token", secret_value())
    assert vault.list_secrets() == []


# -- master-key rotation ------------------------------------------------------------------


def reveal_all(vault: Vault, values: dict[str, str]) -> dict[str, str]:
    fresh = Vault(vault.store, vault.home, vault.owner)
    return {name: fresh.reveal_value(name) for name in values}


def test_interrupted_rotation_keeps_every_secret_and_a_rerun_finishes_it(
    vault: Vault, store: Store, home: Path, owner: str
) -> None:
    values = {f"secret_{i:04d}": f"value-{i:04d}-{uuid.uuid4().hex}" for i in range(1200)}
    for name, value in values.items():
        vault.set(name, value)
    payload_active, payload_keys = vault.payload_keys()  # one wrapped payload key, too
    old = key_file_document(home)["active"]
    assert vault.keys_in_use() == {old: 1201}

    calls: list[tuple[int, int]] = []

    def crash_after_third_batch(done: int, remaining: int) -> None:
        calls.append((done, remaining))
        if len(calls) == 3:
            raise SimulatedCrash

    with pytest.raises(SimulatedCrash):
        vault.rotate_master_key(batch_size=100, on_batch=crash_after_third_batch)

    # The first batch also re-wrapped the payload key.
    assert calls == [(101, 1100), (201, 1000), (301, 900)]
    document = key_file_document(home)
    new = document["active"]
    assert new != old
    assert set(document["keys"]) == {old, new}
    assert vault.keys_in_use() == {new: 301, old: 900}
    assert reveal_all(vault, values) == values
    assert mode_of(key_file(home)) == 0o600

    # Neither key may be retired half-way.
    with pytest.raises(MasterKeyError, match=f"{old} still wraps 900 rows"):
        vault.retire_key(old)
    with pytest.raises(MasterKeyError, match="is the active master key"):
        vault.retire_key(new)
    with pytest.raises(MasterKeyError, match="rotation is still in progress"):
        vault.rotate_master_key(new_key=new_key())
    assert set(key_file_document(home)["keys"]) == {old, new}

    # A new process finishes the rotation: no third key.
    report = Vault(store, home, owner).rotate_master_key()
    assert report.active_key == new
    assert report.rewrapped == 900
    assert report.remaining == 0
    assert report.retired == (old,)
    assert report.still_needed == ()
    document = key_file_document(home)
    assert document["active"] == new
    assert list(document["keys"]) == [new]
    assert old in document["retired"]
    assert mode_of(key_file(home)) == 0o600
    assert mode_of(key_file(home).parent) & 0o077 == 0
    assert vault.keys_in_use() == {new: 1201}
    assert reveal_all(vault, values) == values
    assert Vault(store, home, owner).payload_keys() == (payload_active, payload_keys)


def test_rotation_with_nothing_pending_brings_in_a_new_key(
    vault: Vault, store: Store, home: Path, owner: str
) -> None:
    values = {f"s{i}": secret_value() for i in range(5)}
    for name, value in values.items():
        vault.set(name, value)
    first = key_file_document(home)["active"]
    given = new_key()
    report = vault.rotate_master_key(new_key=given)
    assert report.active_key == key_id(given)
    assert (report.rewrapped, report.remaining) == (5, 0)
    assert report.retired == (first,)
    report = vault.rotate_master_key()
    assert report.active_key not in (first, key_id(given))
    assert report.retired == (key_id(given),)
    assert list(key_file_document(home)["keys"]) == [report.active_key]
    assert reveal_all(vault, values) == values
    # New secrets are sealed under the new active key.
    assert vault.set("later", secret_value()).key_id == report.active_key


def test_retire_key_refusals(vault: Vault, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vault.set("token", secret_value())
    active = key_file_document(home)["active"]
    with pytest.raises(MasterKeyError, match=f"{active} is the active master key; rotate first"):
        vault.retire_key(active)
    with pytest.raises(MasterKeyError, match="no master key mk-0000000000000000 in"):
        vault.retire_key("mk-0000000000000000")
    monkeypatch.setenv(ENV_VAR, encode_key(new_key()))
    with pytest.raises(MasterKeyError, match=f"keys come from {ENV_VAR}"):
        vault.retire_key(active)
    assert list(key_file_document(home)["keys"]) == [active]


def test_retire_key_removes_an_unused_key(vault: Vault, home: Path) -> None:
    value = secret_value()
    vault.set("token", value)
    first = load_keyring(home).active
    extra = new_key()
    add_active_key(load_keyring(home), extra)
    # Make the first key active again by hand, leaving `extra` in the file but unused.
    document = key_file_document(home)
    document["active"] = first
    key_file(home).write_text(json.dumps(document))
    assert set(key_file_document(home)["keys"]) == {first, key_id(extra)}
    vault.retire_key(key_id(extra))
    document = key_file_document(home)
    assert list(document["keys"]) == [first]
    assert document["retired"] == [key_id(extra)]
    assert mode_of(key_file(home)) == 0o600
    assert Vault(vault.store, home, vault.owner).reveal_value("token") == value


def test_rotation_onto_the_first_environment_key(
    store: Store, home: Path, owner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_key, new_master = new_key(), new_key()
    monkeypatch.setenv(ENV_VAR, encode_key(old_key))
    values = {f"s{i}": secret_value() for i in range(30)}
    vault = Vault(store, home, owner)
    for name, value in values.items():
        vault.set(name, value)
    vault.payload_keys()
    # With one key in the variable there is nothing to bring in: a new key must go first.
    with pytest.raises(MasterKeyError, match=r"\(NEW,OLD\)"):
        vault.rotate_master_key(new_key=new_key())

    monkeypatch.setenv(ENV_VAR, f"{encode_key(new_master)},{encode_key(old_key)}")
    with pytest.raises(MasterKeyError, match="rotation is still in progress"):
        Vault(store, home, owner).rotate_master_key(new_key=new_key())
    report = Vault(store, home, owner).rotate_master_key(batch_size=7)
    assert report.active_key == key_id(new_master)
    assert (report.rewrapped, report.remaining) == (31, 0)
    assert report.retired == ()
    assert report.still_needed == ()
    assert vault.keys_in_use() == {key_id(new_master): 31}
    assert not key_file(home).exists()

    monkeypatch.setenv(ENV_VAR, encode_key(new_master))
    assert reveal_all(vault, values) == values


def test_rotation_stops_when_a_row_needs_a_key_the_ring_lacks(
    store: Store, home: Path, owner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lost = new_key()
    monkeypatch.setenv(ENV_VAR, encode_key(lost))
    Vault(store, home, owner).set("orphan", secret_value())
    monkeypatch.delenv(ENV_VAR)
    vault = Vault(store, home, owner)
    vault.set("kept", secret_value())
    before = vault.keys_in_use()
    with pytest.raises(MasterKeyError, match=f"master key {key_id(lost)} is needed"):
        vault.rotate_master_key()
    assert vault.keys_in_use() == before


def test_keys_in_use_is_empty_on_an_empty_store(vault: Vault) -> None:
    assert vault.keys_in_use() == {}
    # Rotating an empty store still brings in a key and retires the unused first one.
    first = vault.keyring.active
    report = vault.rotate_master_key()
    assert report.rewrapped == 0
    assert report.retired == (first,)
    assert os.path.exists(key_file(vault.home))
