"""Signed, expiring, single-use approval-link tokens, and the form tokens of their pages.

A token is ``LINK_ID.SIGNATURE``: HMAC-SHA256 over the link's id, organization, run,
step, signal and expiry, under a key derived (HKDF-SHA256, its own ``info``) from a
random key kept in the vault's ``vault_keys`` (purpose ``approval``, wrapped by the
master key like every data key; the master key itself never signs anything). The run
in the link's URL takes part in the check, so a token shown with another run's URL
fails, and so does any changed character. Expiry and single use are the store's
(:mod:`flowat_kernel.store.approval_records`).

The page's form carries a second token, HMAC under another derived key over the link's
id and run: a POST without it (another site's form, a script that only read the URL
from a log) acts on nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from flowat_kernel.access.sealed_keys import add_key, load_keys
from flowat_kernel.store.approval_records import ApprovalLinkRecord
from flowat_kernel.vault.vault import Vault

__all__ = ["PURPOSE", "ApprovalKeys", "BadToken", "split_token"]

PURPOSE = "approval"
_TOKEN = re.compile(r"^([0-9a-f]{32})\.([A-Za-z0-9_-]{43})$")


class BadToken(Exception):
    """The token is malformed or its signature does not match."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _derive(key: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, b"flowat-approval-links", info).derive(key)


def split_token(token: str) -> tuple[str, str]:
    """``(link_id, signature)`` of a well-formed token.

    Raises:
        BadToken: not ``32 hex characters . 43 base64url characters``.

    """
    match = _TOKEN.match(token or "")
    if match is None:
        raise BadToken("malformed approval token")
    return match.group(1), match.group(2)


def _message(link: ApprovalLinkRecord, run_id: str) -> bytes:
    fields = (
        "v1",
        link.id,
        link.owner,
        run_id,
        link.step,
        link.signal,
        str(int(link.expires_at.timestamp())),
    )
    return "\x1f".join(fields).encode()


@dataclass
class ApprovalKeys:
    """Signs and checks approval tokens with the vault's ``approval`` keys."""

    vault: Vault

    def current(self) -> str:
        """The id of the key new links are signed with (created on first use)."""
        keys = load_keys(self.vault, PURPOSE)
        if not keys:
            kid, _ = add_key(self.vault, PURPOSE)
            return kid
        return keys[-1][0]

    def _key(self, kid: str, info: bytes) -> bytes:
        found = load_keys(self.vault, PURPOSE, kid)
        if not found:
            raise BadToken("the link's signing key is gone")
        return _derive(found[0][1], info)

    def sign(self, link: ApprovalLinkRecord) -> str:
        """The token for ``link`` (bound to its own run)."""
        mac = hmac.new(self._key(link.key_id, b"link"), _message(link, link.run_id), hashlib.sha256)
        return f"{link.id}.{_b64(mac.digest())}"

    def check(self, link: ApprovalLinkRecord, signature: str, run_id: str) -> None:
        """Check ``signature`` for ``link`` shown under ``run_id``'s URL.

        Raises:
            BadToken: it does not match (another run, a changed character, another key).

        """
        mac = hmac.new(self._key(link.key_id, b"link"), _message(link, run_id), hashlib.sha256)
        if not hmac.compare_digest(_b64(mac.digest()), signature) or link.run_id != run_id:
            raise BadToken("the approval token does not match")

    def form_token(self, link: ApprovalLinkRecord) -> str:
        """The token the link's page puts in its form."""
        message = f"form\x1f{link.id}\x1f{link.run_id}".encode()
        return _b64(hmac.new(self._key(link.key_id, b"form"), message, hashlib.sha256).digest())

    def check_form(self, link: ApprovalLinkRecord, token: str) -> bool:
        """Whether ``token`` is the page's form token for ``link``."""
        return hmac.compare_digest(self.form_token(link), token or "")
