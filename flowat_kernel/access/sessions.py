"""Short-lived signed session tokens (JWT, HS256 pinned) with signing-key rotation.

Only ``HS256`` is accepted: the header's ``alg`` is checked before anything else, so
``alg: none`` and algorithm confusion (an RS/ES token, or a public key used as an HMAC
secret) are refused. Every token names its signing key in ``kid``; keys live wrapped
in the vault, the newest signs, and older ones verify until retired.
"""

from __future__ import annotations

import secrets
import threading
from datetime import timedelta
from typing import Any

import jwt

from flowat_kernel.access.directory import Directory
from flowat_kernel.access.errors import Unauthenticated
from flowat_kernel.access.principal import Principal
from flowat_kernel.access.sealed_keys import add_key, drop_key, load_keys
from flowat_kernel.errors import FlowAtError
from flowat_kernel.store.clock import utcnow
from flowat_kernel.vault.vault import Vault

__all__ = ["ALGORITHM", "ISSUER", "MAX_TTL", "SessionTokens"]

ALGORITHM = "HS256"
ISSUER = "flowat"
PURPOSE = "session"
MAX_TTL = timedelta(hours=12)


class SessionTokens:
    """Issues and verifies session tokens.

    Args:
        vault: where the signing keys are kept.
        directory: for the caller's current role (a demoted user's tokens shrink at once).

    """

    def __init__(self, vault: Vault, directory: Directory) -> None:
        self.vault = vault
        self.directory = directory
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def _load(self) -> dict[str, bytes]:
        keys = dict(load_keys(self.vault, PURPOSE))
        with self._lock:
            self._keys = keys
        return keys

    def _signing_key(self) -> tuple[str, bytes]:
        keys = self._keys or self._load()
        if not keys:
            kid, key = add_key(self.vault, PURPOSE)
            keys = self._load() or {kid: key}
        kid = list(keys)[-1]
        return kid, keys[kid]

    def issue(self, principal: Principal, ttl: timedelta = timedelta(minutes=15)) -> dict[str, Any]:
        """A token for ``principal`` (same user, organization, scopes and workflows).

        Raises:
            FlowAtError: a lifetime that is not positive or longer than 12 hours.

        """
        if not timedelta(0) < ttl <= MAX_TTL:
            raise FlowAtError("a session lasts more than 0 seconds and at most 12 hours")
        kid, key = self._signing_key()
        now = utcnow()
        expires = now + ttl
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": principal.user,
            "org": principal.owner,
            "scopes": list(principal.scopes),
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": secrets.token_hex(8),
        }
        if principal.workflows is not None:
            claims["workflows"] = list(principal.workflows)
        token = jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})
        return {"token": token, "token_type": "Bearer", "expires_at": expires.isoformat()}

    def verify(self, token: str) -> Principal:
        """The principal of a valid token.

        Raises:
            Unauthenticated: malformed, wrong algorithm, unknown key, bad signature,
                expired, or the user is no longer a member.

        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("malformed session token") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthenticated(f"session tokens are signed with {ALGORITHM} only")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Unauthenticated("session token without a key id")
        key = self._keys.get(kid) or self._load().get(kid)
        if key is None:
            raise Unauthenticated("session token signed with an unknown or retired key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("session token expired; ask for a new one") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid session token ({exc})") from None
        owner, user = str(claims.get("org", "")), str(claims["sub"])
        role = self.directory.role_of(owner, user)
        if role is None:
            raise Unauthenticated(f"{user!r} is no longer a member of {owner!r}")
        workflows = claims.get("workflows")
        return Principal(
            user=user,
            owner=owner,
            role=role,
            scopes=tuple(str(s) for s in claims.get("scopes") or ()),
            workflows=tuple(str(w) for w in workflows) if isinstance(workflows, list) else None,
            via="session",
        )

    def rotate(self) -> str:
        """Start signing with a new key (old ones keep verifying); returns its id."""
        kid, _ = add_key(self.vault, PURPOSE)
        self._load()
        return kid

    def retire(self, keep: int = 1) -> list[str]:
        """Delete all but the newest ``keep`` signing keys; their tokens stop working."""
        keys = list(self._load())
        retired = keys[: max(0, len(keys) - max(keep, 1))]
        for kid in retired:
            drop_key(self.vault, PURPOSE, kid)
        self._load()
        return retired
