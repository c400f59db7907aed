"""AES-256-GCM envelope encryption: round trips, re-wrapping, and every kind of tampering."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import pytest

from flowat_kernel.errors import FlowAtError, VaultAuthenticationError, VaultError
from flowat_kernel.vault import crypto
from flowat_kernel.vault.crypto import KEY_BYTES, NONCE_BYTES, TAG_BYTES, Sealed

PLAINTEXT = b"sk-live-" + os.urandom(12).hex().encode()
AAD = crypto.associated_data("flowat secret v1", "acme", "openai_api_key")
KID = "mk-test"


def flip(data: bytes, index: int, bit: int = 0) -> bytes:
    """``data`` with one bit of the byte at ``index`` inverted."""
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


@pytest.fixture
def master() -> bytes:
    return os.urandom(KEY_BYTES)


@pytest.fixture
def sealed(master: bytes) -> Sealed:
    return crypto.seal(master, KID, PLAINTEXT, AAD)


def auth_failure(master: bytes, sealed: Sealed, aad: bytes = AAD) -> str:
    with pytest.raises(VaultAuthenticationError) as caught:
        crypto.open_sealed(master, sealed, aad)
    return str(caught.value)


def reference_message(master: bytes, sealed: Sealed) -> str:
    return auth_failure(master, dataclasses.replace(sealed, tag=flip(sealed.tag, 0)))


# -- sealing and opening ----------------------------------------------------------------


def test_seal_then_open_returns_the_plaintext(master: bytes, sealed: Sealed) -> None:
    assert crypto.open_sealed(master, sealed, AAD) == PLAINTEXT
    assert sealed.key_id == KID
    assert len(sealed.nonce) == NONCE_BYTES
    assert len(sealed.tag) == TAG_BYTES
    assert len(sealed.ciphertext) == len(PLAINTEXT)
    # The wrapped data key is nonce + 32-byte key + tag.
    assert len(sealed.wrapped_key) == NONCE_BYTES + KEY_BYTES + TAG_BYTES


def test_no_stored_field_holds_the_plaintext(sealed: Sealed) -> None:
    for field in (sealed.nonce, sealed.ciphertext, sealed.tag, sealed.wrapped_key):
        assert PLAINTEXT not in field
        assert PLAINTEXT[:8] not in field


def test_sealing_twice_uses_fresh_nonces_and_data_keys(master: bytes, sealed: Sealed) -> None:
    again = crypto.seal(master, KID, PLAINTEXT, AAD)
    assert again.nonce != sealed.nonce
    assert again.ciphertext != sealed.ciphertext
    assert again.wrapped_key != sealed.wrapped_key
    assert crypto.open_sealed(master, again, AAD) == PLAINTEXT


def test_empty_and_binary_plaintexts_round_trip(master: bytes) -> None:
    for plaintext in (b"", bytes(range(256)), "pässwörd ✓".encode()):
        assert crypto.open_sealed(master, crypto.seal(master, KID, plaintext, AAD), AAD) == (
            plaintext
        )


# -- tampering ----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["nonce", "ciphertext", "tag", "wrapped_key"])
@pytest.mark.parametrize("position", [0, -1])
@pytest.mark.parametrize("bit", [0, 7])
def test_one_flipped_bit_anywhere_fails_with_the_same_message(
    master: bytes, sealed: Sealed, field: str, position: int, bit: int
) -> None:
    change: dict[str, Any] = {field: flip(getattr(sealed, field), position, bit)}
    tampered = dataclasses.replace(sealed, **change)
    message = auth_failure(master, tampered)
    assert message == reference_message(master, sealed)
    assert PLAINTEXT.decode() not in message


@pytest.mark.parametrize(
    "change",
    [
        {"nonce": b""},
        {"nonce": b"\x00" * (NONCE_BYTES - 1)},
        {"nonce": b"\x00" * (NONCE_BYTES + 1)},
        {"tag": b""},
        {"tag": b"\x00" * (TAG_BYTES - 1)},
        {"ciphertext": b""},
        {"wrapped_key": b""},
        {"wrapped_key": b"\x00" * 10},
        {"wrapped_key": b"\x00" * (NONCE_BYTES + TAG_BYTES)},
    ],
    ids=lambda change: f"{next(iter(change))}={len(next(iter(change.values())))}B",
)
def test_truncated_or_emptied_fields_fail_with_the_same_message(
    master: bytes, sealed: Sealed, change: dict[str, Any]
) -> None:
    message = auth_failure(master, dataclasses.replace(sealed, **change))
    assert message == reference_message(master, sealed)


def test_wrong_master_key_fails_with_the_same_message(master: bytes, sealed: Sealed) -> None:
    assert auth_failure(os.urandom(KEY_BYTES), sealed) == reference_message(master, sealed)


def test_other_associated_data_fails(master: bytes, sealed: Sealed) -> None:
    other_name = crypto.associated_data("flowat secret v1", "acme", "openai_api_kez")
    other_owner = crypto.associated_data("flowat secret v1", "acmf", "openai_api_key")
    other_kind = crypto.associated_data("flowat payload v1", "acme", "openai_api_key")
    expected = reference_message(master, sealed)
    for aad in (other_name, other_owner, other_kind, b""):
        assert auth_failure(master, sealed, aad) == expected


def test_parts_swapped_between_two_sealed_values_fail(master: bytes) -> None:
    aad_a = crypto.associated_data("flowat secret v1", "acme", "a")
    aad_b = crypto.associated_data("flowat secret v1", "acme", "b")
    a = crypto.seal(master, KID, b"value-of-a", aad_a)
    b = crypto.seal(master, KID, b"value-of-b", aad_b)
    expected = reference_message(master, a)
    # The whole sealed value of b presented as a's.
    assert auth_failure(master, b, aad_a) == expected
    # Only b's wrapped data key on a's row; only b's value under a's data key.
    assert auth_failure(master, dataclasses.replace(a, wrapped_key=b.wrapped_key), aad_a) == (
        expected
    )
    swapped_value = dataclasses.replace(a, nonce=b.nonce, ciphertext=b.ciphertext, tag=b.tag)
    assert auth_failure(master, swapped_value, aad_a) == expected


def test_authentication_error_is_a_vault_error() -> None:
    assert issubclass(VaultAuthenticationError, VaultError)
    assert issubclass(VaultAuthenticationError, FlowAtError)


# -- re-wrapping ----------------------------------------------------------------------------


def test_rewrap_moves_the_data_key_to_the_new_master(master: bytes, sealed: Sealed) -> None:
    new_master = os.urandom(KEY_BYTES)
    wrapped = crypto.rewrap(master, new_master, sealed.wrapped_key, AAD)
    assert wrapped != sealed.wrapped_key
    moved = dataclasses.replace(sealed, wrapped_key=wrapped)
    # The value's own ciphertext is untouched; only the wrapping changed.
    assert crypto.open_sealed(new_master, moved, AAD) == PLAINTEXT
    assert auth_failure(master, moved) == reference_message(master, sealed)


def test_rewrap_refuses_a_wrong_old_key_or_other_row(master: bytes, sealed: Sealed) -> None:
    new_master = os.urandom(KEY_BYTES)
    with pytest.raises(VaultAuthenticationError):
        crypto.rewrap(os.urandom(KEY_BYTES), new_master, sealed.wrapped_key, AAD)
    other_aad = crypto.associated_data("flowat secret v1", "acme", "other")
    with pytest.raises(VaultAuthenticationError):
        crypto.rewrap(master, new_master, sealed.wrapped_key, other_aad)
    with pytest.raises(VaultAuthenticationError):
        crypto.rewrap(master, new_master, flip(sealed.wrapped_key, 20), AAD)


def test_bare_data_keys_wrap_and_unwrap(master: bytes) -> None:
    data_key = os.urandom(KEY_BYTES)
    aad = crypto.associated_data("flowat payload key v1", "pk-1")
    wrapped = crypto.wrap_data_key(master, data_key, aad)
    assert data_key not in wrapped
    assert crypto.unwrap_data_key(master, wrapped, aad) == data_key
    with pytest.raises(VaultAuthenticationError):
        crypto.unwrap_data_key(master, wrapped, crypto.associated_data("x", "pk-1"))
    with pytest.raises(VaultAuthenticationError):
        crypto.unwrap_data_key(master, flip(wrapped, -3), aad)


def test_a_wrapped_key_of_the_wrong_length_is_refused(master: bytes) -> None:
    aad = crypto.associated_data("flowat payload key v1", "pk-1")
    short = crypto.wrap_data_key(master, os.urandom(16), aad)
    with pytest.raises(VaultAuthenticationError):
        crypto.unwrap_data_key(master, short, aad)


# -- associated data ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (("k", "ab", "c"), ("k", "a", "bc")),
        (("k", "a", ""), ("k", "a")),
        (("k", "", "a"), ("k", "a", "")),
        (("k1", "a"), ("k", "1a")),
        (("k", "a\x00b"), ("k", "a", "b")),
    ],
)
def test_associated_data_is_unambiguous(left: tuple[str, ...], right: tuple[str, ...]) -> None:
    assert crypto.associated_data(*left) != crypto.associated_data(*right)


def test_associated_data_is_deterministic() -> None:
    assert crypto.associated_data("k", "owner", "näme") == crypto.associated_data(
        "k", "owner", "näme"
    )
