"""Webhook signatures in the Standard Webhooks style.

The sender computes ``base64(HMAC-SHA256(secret, f"{id}.{timestamp}.{body}"))`` over the
raw body and sends three headers::

    webhook-id: msg_2KWPBgLlAfxdpx2AI54pPJ85f4W
    webhook-timestamp: 1764500000            (Unix seconds)
    webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=

The secret is shown once as ``whsec_`` + base64. A timestamp more than five minutes
from now is refused (replay window), and the id of every accepted delivery is
remembered, so a replayed id is refused too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

from flowat_kernel.access.errors import Unauthenticated

__all__ = ["SECRET_PREFIX", "TOLERANCE_SECONDS", "decode_secret", "encode_secret", "sign", "verify"]

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 300


def encode_secret(key: bytes) -> str:
    """The form of a signing key shown to the user."""
    return SECRET_PREFIX + base64.b64encode(key).decode()


def decode_secret(secret: str) -> bytes:
    """The key bytes of a ``whsec_`` secret."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for a delivery."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    key: bytes, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> tuple[str, int]:
    """Check a delivery's signature and timestamp; return its id and timestamp.

    Raises:
        Unauthenticated: a header is missing, the timestamp is outside the window, or
            no signature matches.

    """
    message_id = headers.get("webhook-id", "").strip()
    stamp = headers.get("webhook-timestamp", "").strip()
    signatures = headers.get("webhook-signature", "").strip()
    if not message_id or not stamp or not signatures:
        raise Unauthenticated(
            "this webhook is signed: send webhook-id, webhook-timestamp and webhook-signature"
        )
    if len(message_id) > 255:
        raise Unauthenticated("webhook-id is longer than 255 characters")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise Unauthenticated("webhook-timestamp must be Unix seconds") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > TOLERANCE_SECONDS:
        raise Unauthenticated(
            "webhook-timestamp is more than 5 minutes from now (a replay, or a wrong clock)"
        )
    expected = sign(key, message_id, timestamp, body).encode()
    for candidate in signatures.split():
        if hmac.compare_digest(candidate.encode(), expected):
            return message_id, timestamp
    raise Unauthenticated("webhook signature does not match the body")
