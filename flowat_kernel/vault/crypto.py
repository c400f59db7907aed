"""Envelope encryption with AES-256-GCM.

A value is encrypted under a fresh 256-bit data key; the data key is encrypted
("wrapped") under a master key. Both layers are authenticated and bound to the same
associated data (the owner and name of the secret), so ciphertext copied onto another
row, or a wrapped key from another row, fails to open. Every failure to open raises
the same :class:`~flowat_kernel.errors.VaultAuthenticationError`: no partial plaintext,
no hint of which part was altered.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from flowat_kernel.errors import VaultAuthenticationError

__all__ = [
    "KEY_BYTES",
    "NONCE_BYTES",
    "TAG_BYTES",
    "Sealed",
    "associated_data",
    "open_sealed",
    "payload_key_aad",
    "rewrap",
    "seal",
    "secret_aad",
    "unwrap_data_key",
    "wrap_data_key",
]

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16

_AUTH_FAILED = (
    "a stored secret failed authentication: it was altered, moved to another row, or "
    "written with a different key; it cannot be used"
)


@dataclass(frozen=True)
class Sealed:
    """One encrypted value as stored: every field is needed to open it.

    Attributes:
        nonce: 12-byte nonce of the value's encryption.
        ciphertext: the encrypted value.
        tag: the 16-byte GCM tag over the value and the associated data.
        wrapped_key: nonce, ciphertext and tag of the data key under the master key.
        key_id: id of the master key that wrapped the data key.

    """

    nonce: bytes
    ciphertext: bytes
    tag: bytes
    wrapped_key: bytes
    key_id: str


def associated_data(kind: str, *parts: str) -> bytes:
    """Unambiguous associated data: each part length-prefixed after a kind label."""
    out = bytearray(kind.encode() + b"\x00")
    for part in parts:
        raw = part.encode()
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)


def secret_aad(owner: str, name: str) -> bytes:
    """Associated data of a secret: binds its ciphertext and wrapped key to owner and name."""
    return associated_data("flowat secret v1", owner, name)


def payload_key_aad(kid: str) -> bytes:
    """Associated data of a payload-codec key, bound to its id."""
    return associated_data("flowat payload key v1", kid)


def _encrypt(key: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes, bytes]:
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext, aad)
    return nonce, sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]


def _decrypt(key: bytes, nonce: bytes, ciphertext: bytes, tag: bytes, aad: bytes) -> bytes:
    if len(nonce) != NONCE_BYTES or len(tag) != TAG_BYTES:
        raise VaultAuthenticationError(_AUTH_FAILED)
    try:
        return AESGCM(key).decrypt(nonce, ciphertext + tag, aad)
    except InvalidTag:
        raise VaultAuthenticationError(_AUTH_FAILED) from None


def _wrap(master: bytes, data_key: bytes, aad: bytes) -> bytes:
    nonce, ciphertext, tag = _encrypt(master, data_key, aad)
    return nonce + ciphertext + tag


def _unwrap(master: bytes, wrapped: bytes, aad: bytes) -> bytes:
    nonce, body = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
    data_key = _decrypt(master, nonce, body[:-TAG_BYTES], body[-TAG_BYTES:], aad)
    if len(data_key) != KEY_BYTES:
        raise VaultAuthenticationError(_AUTH_FAILED)
    return data_key


def seal(master: bytes, key_id: str, plaintext: bytes, aad: bytes) -> Sealed:
    """Encrypt ``plaintext`` under a fresh data key wrapped by ``master``."""
    data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    nonce, ciphertext, tag = _encrypt(data_key, plaintext, aad)
    return Sealed(nonce, ciphertext, tag, _wrap(master, data_key, aad), key_id)


def open_sealed(master: bytes, sealed: Sealed, aad: bytes) -> bytes:
    """Decrypt a sealed value.

    Raises:
        VaultAuthenticationError: any part was altered or belongs to another row.

    """
    data_key = _unwrap(master, sealed.wrapped_key, aad)
    return _decrypt(data_key, sealed.nonce, sealed.ciphertext, sealed.tag, aad)


def rewrap(old_master: bytes, new_master: bytes, wrapped: bytes, aad: bytes) -> bytes:
    """Re-wrap a data key under a new master key (the value's ciphertext is untouched).

    Raises:
        VaultAuthenticationError: the wrapped key was altered or belongs to another row.

    """
    return _wrap(new_master, _unwrap(old_master, wrapped, aad), aad)


def wrap_data_key(master: bytes, data_key: bytes, aad: bytes) -> bytes:
    """Wrap a bare data key (used for the payload-codec keys)."""
    return _wrap(master, data_key, aad)


def unwrap_data_key(master: bytes, wrapped: bytes, aad: bytes) -> bytes:
    """Unwrap a bare data key.

    Raises:
        VaultAuthenticationError: the wrapped key was altered or belongs to another row.

    """
    return _unwrap(master, wrapped, aad)
