"""Master keys from FLOWAT_MASTER_KEY and from the owner-only key file."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from flowat_kernel.errors import MasterKeyError
from flowat_kernel.vault.crypto import KEY_BYTES
from flowat_kernel.vault.keyring import (
    ENV_VAR,
    KeyRing,
    add_active_key,
    encode_key,
    key_file,
    key_id,
    load_keyring,
    new_key,
    retire_keys,
)


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own FLOWAT_MASTER_KEY must never leak into these tests."""
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_key_file(home: Path, document: object, mode: int = 0o600) -> Path:
    path = key_file(home)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(json.dumps(document))
    path.chmod(mode)
    return path


# -- key ids ------------------------------------------------------------------------------


def test_key_id_is_derived_from_the_key() -> None:
    key = new_key()
    assert len(key) == KEY_BYTES
    kid = key_id(key)
    assert kid == key_id(bytes(key))
    assert kid.startswith("mk-")
    assert len(kid) == 3 + 16
    int(kid[3:], 16)
    assert key_id(new_key()) != kid
    assert encode_key(key) not in kid
    assert key.hex()[:16] not in kid


def test_encoded_keys_are_url_safe_base64() -> None:
    key = new_key()
    text = encode_key(key)
    assert base64.urlsafe_b64decode(text) == key
    assert "+" not in text and "/" not in text


# -- FLOWAT_MASTER_KEY -----------------------------------------------------------------------


def test_one_key_from_the_environment(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = new_key()
    monkeypatch.setenv(ENV_VAR, encode_key(key))
    ring = load_keyring(home)
    assert ring.path is None
    assert ring.active == key_id(key)
    assert ring.keys == {key_id(key): key}
    assert ring.active_key == key
    # The environment wins: no key file is created.
    assert not key_file(home).exists()


def test_several_keys_from_the_environment_first_is_active(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, third = new_key(), new_key(), new_key()
    raw = f" {encode_key(first)} ,{encode_key(second)},\n{encode_key(third)},"
    monkeypatch.setenv(ENV_VAR, raw)
    ring = load_keyring(home)
    assert ring.active == key_id(first)
    assert ring.keys == {key_id(k): k for k in (first, second, third)}


def test_environment_takes_precedence_over_the_key_file(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_file = load_keyring(home)
    key = new_key()
    monkeypatch.setenv(ENV_VAR, encode_key(key))
    ring = load_keyring(home)
    assert ring.active == key_id(key)
    assert from_file.active not in ring.keys


@pytest.mark.parametrize(
    ("raw", "which"),
    [
        ("not a key at all", "key 1"),
        ("c2hvcnQ=", "key 1"),  # valid base64, 5 bytes
        (encode_key(os.urandom(16)), "key 1"),
        (encode_key(os.urandom(33)), "key 1"),
        (encode_key(os.urandom(32)).rstrip("="), "key 1"),  # padding stripped
        (encode_key(os.urandom(32)) + ",garbage!!", "key 2"),
    ],
    ids=["text", "five-bytes", "16-bytes", "33-bytes", "unpadded", "second-bad"],
)
def test_malformed_environment_key_is_a_clear_error(
    home: Path, monkeypatch: pytest.MonkeyPatch, raw: str, which: str
) -> None:
    monkeypatch.setenv(ENV_VAR, raw)
    with pytest.raises(MasterKeyError) as caught:
        load_keyring(home)
    message = str(caught.value)
    assert f"{ENV_VAR} ({which})" in message
    assert f"expected {KEY_BYTES} bytes in URL-safe base64" in message
    assert "os.urandom(32)" in message  # says how to make a good one
    # The (possibly almost right) key text is not echoed back.
    for part in raw.split(","):
        if len(part) >= 8:
            assert part not in message
    assert not key_file(home).exists()


def test_environment_with_only_separators_is_an_error(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, " , ,")
    with pytest.raises(MasterKeyError, match=f"{ENV_VAR} is set but empty"):
        load_keyring(home)


def test_environment_ring_names_the_variable_when_a_key_is_missing(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, encode_key(new_key()))
    ring = load_keyring(home)
    with pytest.raises(MasterKeyError) as caught:
        ring.get("mk-0123456789abcdef")
    message = str(caught.value)
    assert "mk-0123456789abcdef" in message
    assert f"{ENV_VAR} does not hold it" in message
    assert f"Set {ENV_VAR}" in message


def test_new_key_cannot_be_added_to_an_environment_ring(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, encode_key(new_key()))
    ring = load_keyring(home)
    with pytest.raises(MasterKeyError, match=r"put the new key first in it \(NEW,OLD\)"):
        add_active_key(ring)
    # Retiring through the environment is a no-op on the ring, not a file write.
    assert retire_keys(ring, [ring.active]) is ring
    assert not key_file(home).exists()


# -- the key file ---------------------------------------------------------------------------


def test_first_use_creates_an_owner_only_key_file(home: Path) -> None:
    path = key_file(home)
    assert path == home / "vault" / "master-keys.json"
    assert not path.exists()
    ring = load_keyring(home)
    assert ring.path == path
    assert mode_of(path) == 0o600
    assert mode_of(path.parent) & 0o077 == 0  # the folder is not group/world readable
    document = json.loads(path.read_text())
    assert document["active"] == ring.active
    assert document["keys"] == {ring.active: encode_key(ring.active_key)}
    assert key_id(base64.urlsafe_b64decode(document["keys"][ring.active])) == ring.active
    # No temporary file is left behind.
    assert sorted(p.name for p in path.parent.iterdir()) == ["keys.lock", "master-keys.json"]


def test_the_key_file_is_reused(home: Path) -> None:
    first = load_keyring(home)
    again = load_keyring(home)
    assert again.active == first.active
    assert again.keys == first.keys


def test_missing_key_file_without_create_is_an_error(home: Path) -> None:
    with pytest.raises(MasterKeyError) as caught:
        load_keyring(home, create=False)
    message = str(caught.value)
    assert f"{ENV_VAR} is unset" in message
    assert str(key_file(home)) in message
    assert not key_file(home).exists()


def test_concurrent_first_use_creates_one_key(home: Path) -> None:
    barrier = threading.Barrier(8)
    rings: list[KeyRing] = []
    errors: list[BaseException] = []

    def load() -> None:
        barrier.wait()
        try:
            rings.append(load_keyring(home))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({ring.active for ring in rings}) == 1
    assert load_keyring(home).active == rings[0].active


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666, 0o700 | 0o004])
def test_a_key_file_others_can_read_is_refused(home: Path, mode: int) -> None:
    load_keyring(home)
    path = key_file(home)
    path.chmod(mode)
    with pytest.raises(MasterKeyError) as caught:
        load_keyring(home)
    message = str(caught.value)
    assert f"chmod 600 {path}" in message
    assert f"{mode:04o}" in message
    assert "others can read it" in message


def test_a_read_only_owner_key_file_is_accepted(home: Path) -> None:
    created = load_keyring(home)
    key_file(home).chmod(0o400)
    assert load_keyring(home).active == created.active


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("not json", "unreadable or damaged"),
        ({"format": 1}, "unreadable or damaged"),
        ({"format": 1, "active": "x", "keys": "nope"}, "unreadable or damaged"),
        ({"format": 1, "active": "x", "keys": {"mk-1": "short"}}, "is not a master key"),
        (None, "does not match"),
        ("missing-active", "its active key is missing"),
    ],
    ids=["text", "no-keys", "keys-not-a-map", "bad-key", "wrong-id", "no-active"],
)
def test_a_damaged_key_file_is_refused(home: Path, document: object, expected: str) -> None:
    key = new_key()
    if document is None:
        document = {"format": 1, "active": "mk-0000", "keys": {"mk-0000": encode_key(key)}}
    elif document == "missing-active":
        document = {"format": 1, "active": "mk-gone", "keys": {key_id(key): encode_key(key)}}
    path = key_file(home)
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    path.chmod(0o600)
    with pytest.raises(MasterKeyError, match=expected) as caught:
        load_keyring(home)
    assert str(path) in str(caught.value)
    assert encode_key(key) not in str(caught.value)


def test_file_ring_names_the_file_when_a_key_is_missing(home: Path) -> None:
    ring = load_keyring(home)
    with pytest.raises(MasterKeyError) as caught:
        ring.get("mk-0123456789abcdef")
    assert f"the key file {key_file(home)} does not hold it" in str(caught.value)


def test_add_active_key_keeps_old_keys_and_the_file_private(home: Path) -> None:
    ring = load_keyring(home)
    old = ring.active
    key = new_key()
    updated = add_active_key(ring, key)
    assert updated.active == key_id(key)
    assert set(updated.keys) == {old, key_id(key)}
    reloaded = load_keyring(home)
    assert reloaded.active == key_id(key)
    assert reloaded.keys == updated.keys
    assert mode_of(key_file(home)) == 0o600
    random_new = add_active_key(reloaded)
    assert random_new.active not in (old, key_id(key))
    assert len(load_keyring(home).keys) == 3


def test_retire_keys_never_removes_the_active_key(home: Path) -> None:
    ring = load_keyring(home)
    old = ring.active
    ring = add_active_key(ring)
    retired = retire_keys(ring, [ring.active, old, "mk-unknown"])
    assert set(retired.keys) == {ring.active}
    assert retired.retired == [old]
    document = json.loads(key_file(home).read_text())
    assert list(document["keys"]) == [ring.active]
    assert document["retired"] == [old]
    assert mode_of(key_file(home)) == 0o600
