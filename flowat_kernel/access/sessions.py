"""Short-lived signed session tokens (JWT, HS256 pinned) with signing-key rotation.

Only ``HS256`` is accepted: the header's ``alg`` is checked before anything else, so
``alg: none`` and algorithm confusion (an RS/ES token, or a public key used as an HMAC
secret) are refused. Every token names its signing key in ``kid``; keys live wrapped
in the vault, the newest signs, and older ones verify until retired.

A session is bound to the credential that asked for it: its id (``jti``) names a row
in the store that records the API key (``key`` claim) and the session it was made with.
Every request re-checks that row, the key and the membership, so revoking the key, the
session (or the one it was made with) or removing the member ends it at once; a token
never lasts longer than the key or session it came from.
"""

from __future__ import annotations

import secrets
import threading
from datetime import datetime, timedelta
from typing import Any

from flowat_kernel.access.directory import Directory
from flowat_kernel.access.errors import Forbidden, Unauthenticated
from flowat_kernel.access.keys import KEY_PREFIX
from flowat_kernel.access.principal import Principal
from flowat_kernel.access.sealed_keys import add_key, drop_key, load_keys
from flowat_kernel.errors import FlowAtError, NotFoundError
from flowat_kernel.store import Store
from flowat_kernel.store.clock import utcnow
from flowat_kernel.store.session_records import SessionRecord
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

    @property
    def store(self) -> Store:
        """The metadata store (where sessions are recorded)."""
        return self.directory.store

    def issue(self, principal: Principal, ttl: timedelta = timedelta(minutes=15)) -> dict[str, Any]:
        """A token for ``principal`` (same user, organization, scopes, workflows and key).

        The token ends with the credential that asked for it: never later than that
        key's or session's expiry, and at once when either is revoked.

        Raises:
            FlowAtError: a lifetime that is not positive or longer than 12 hours.
            Unauthenticated: the principal's credential has expired.

        """
        if not timedelta(0) < ttl <= MAX_TTL:
            raise FlowAtError("a session lasts more than 0 seconds and at most 12 hours")
        kid, key = self._signing_key()
        now = utcnow()
        expires = now + ttl
        if principal.expires_at is not None:
            if principal.expires_at <= now:
                raise Unauthenticated("this credential has expired; it cannot start a session")
            expires = min(expires, principal.expires_at)
        # Whole seconds, rounded down: the token's exp never passes its key's expiry.
        expires = datetime.fromtimestamp(int(expires.timestamp()), tz=expires.tzinfo)
        session_id = secrets.token_hex(16)
        self.store.add_session(
            session_id=session_id,
            owner=principal.owner,
            user=principal.user,
            key_id=principal.key_id,
            parent=principal.session_id,
            expires_at=expires,
        )
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": principal.user,
            "org": principal.owner,
            "scopes": list(principal.scopes),
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": session_id,
        }
        if principal.key_id is not None:
            claims["key"] = principal.key_id
        if principal.workflows is not None:
            claims["workflows"] = list(principal.workflows)
        import jwt  # PyJWT and cryptography's x509 load when a token is made or checked

        token = jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})
        return {
            "id": session_id,
            "token": token,
            "token_type": "Bearer",
            "expires_at": expires.isoformat(),
            "key_id": principal.key_id,
        }

    def verify(self, token: str) -> Principal:
        """The principal of a valid token.

        Raises:
            Unauthenticated: malformed, wrong algorithm, unknown key, bad signature,
                expired or revoked; its API key (or the session it was made with) revoked
                or expired; or the user is no longer a member.

        """
        import jwt

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
                options={"require": ["exp", "iat", "sub", "iss", "jti"]},
            )
        except jwt.MissingRequiredClaimError:
            raise Unauthenticated(
                "session token from an earlier FlowAt; ask for a new one"
            ) from None
        except jwt.ExpiredSignatureError:
            raise Unauthenticated(
                "session token expired; ask for a new one", **_expired_claims(token, key)
            ) from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid session token ({exc})") from None
        owner, user = str(claims.get("org", "")), str(claims["sub"])
        session_id = str(claims["jti"])
        known = {"owner": owner, "actor": user, "via": f"session:{session_id}"}
        row = self.store.find_session(session_id) if len(session_id) <= 32 else None
        if row is None or row.owner != owner or row.user != user:
            raise Unauthenticated("unknown session; ask for a new one", **known)
        if row.key_id != claims.get("key"):
            raise Unauthenticated("the session token does not match its session", **known)
        if row.revoked_at is not None:
            raise Unauthenticated(f"session {session_id} was revoked", **known)
        expires = self._key_expiry(row, known)
        role = self.directory.role_of(owner, user)
        if role is None:
            raise Unauthenticated(f"{user!r} is no longer a member of {owner!r}", **known)
        workflows = claims.get("workflows")
        return Principal(
            user=user,
            owner=owner,
            role=role,
            scopes=tuple(str(s) for s in claims.get("scopes") or ()),
            workflows=tuple(str(w) for w in workflows) if isinstance(workflows, list) else None,
            via="session",
            key_id=row.key_id,
            session_id=session_id,
            expires_at=expires,
        )

    def _key_expiry(self, row: SessionRecord, known: dict[str, str]) -> datetime:
        """When the session ends: checks that its API key is still usable."""
        if row.key_id is None:
            return row.expires_at
        found = self.store.find_api_key(row.key_id)
        prefix = KEY_PREFIX + row.key_id
        if found is None or found.owner != row.owner or found.user != row.user:
            raise Unauthenticated(f"the API key {prefix} of this session is gone", **known)
        if found.revoked_at is not None:
            raise Unauthenticated(
                f"the API key {prefix} this session was made with was revoked", **known
            )
        if found.expires_at is not None:
            if found.expires_at <= utcnow():
                raise Unauthenticated(
                    f"the API key {prefix} this session was made with has expired", **known
                )
            return min(row.expires_at, found.expires_at)
        return row.expires_at

    def revoke(self, actor: Principal, session_id: str) -> list[str]:
        """End a session (and the sessions made with it) at once; the ids it revoked.

        A member revokes their own sessions; an administrator (``keys:write``) any in
        the organization.

        Raises:
            NotFoundError: no such session in the organization.
            Forbidden: another member's session, without ``keys:write``.

        """
        found = self.store.find_session(session_id) if len(session_id) <= 32 else None
        if found is None or found.owner != actor.owner:
            raise NotFoundError(f"no session {session_id!r} in this organization")
        if found.user != actor.user and not actor.can("keys:write"):
            raise Forbidden("only an administrator (keys:write) revokes other members' sessions")
        return self.store.revoke_session(actor.owner, session_id, actor.user)

    def visible(self, actor: Principal) -> list[dict[str, Any]]:
        """Sessions that have not expired, newest first.

        All of the organization's for a holder of ``keys:read``, else the actor's own.
        """
        user = None if actor.can("keys:read") else actor.user
        return [
            {
                "id": r.id,
                "user": r.user,
                "key_id": r.key_id,
                "parent": r.parent,
                "created_at": r.created_at.isoformat(),
                "expires_at": r.expires_at.isoformat(),
                "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
                "active": r.active,
            }
            for r in self.store.sessions(actor.owner, user)
        ]

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


def _expired_claims(token: str, key: bytes) -> dict[str, str]:
    """Whose an expired token was (its signature verified), for the audit of the refusal."""
    import jwt

    try:
        claims = jwt.decode(
            token, key, algorithms=[ALGORITHM], issuer=ISSUER, options={"verify_exp": False}
        )
    except jwt.PyJWTError:
        return {}
    if not claims.get("org") or not claims.get("sub"):
        return {}
    return {
        "owner": str(claims.get("org", "")),
        "actor": str(claims.get("sub", "")),
        "via": f"session:{claims.get('jti', '')}",
    }
