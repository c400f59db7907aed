"""API keys: shown once, stored only as a SHA-256 hash, scoped, expiring, rotating.

A key looks like ``flowat_<id>_<secret>``: the id (public, shown in listings as the
prefix ``flowat_<id>``) finds the row, and the 256-bit random secret is what proves
possession. Only ``sha256(key)`` is stored. A plain SHA-256 is enough here (a slow
password hash would only slow every request): a key has 256 bits of entropy, so no
dictionary or brute-force attack on a leaked hash is feasible.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flowat_kernel.access.errors import Forbidden, Unauthenticated
from flowat_kernel.access.principal import Principal
from flowat_kernel.access.roles import Role, check_scopes, role_allows, within
from flowat_kernel.errors import FlowAtError
from flowat_kernel.store import Store
from flowat_kernel.store.access_records import ApiKeyRecord
from flowat_kernel.store.clock import utcnow

__all__ = ["KEY_PREFIX", "ApiKeys", "CreatedKey", "KeyInfo", "hash_key"]

KEY_PREFIX = "flowat_"
_LAST_USED_RESOLUTION = timedelta(seconds=30)


def hash_key(key: str) -> str:
    """The stored form of a key: hex SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    """What anyone allowed to list keys sees: never the key or its hash."""

    id: str
    prefix: str
    name: str
    owner: str
    user: str
    scopes: tuple[str, ...]
    workflows: tuple[str, ...] | None
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    replaced_by: str | None

    @property
    def active(self) -> bool:
        """Neither revoked nor expired."""
        now = utcnow()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able metadata."""

        def stamp(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "prefix": self.prefix,
            "name": self.name,
            "organization": self.owner,
            "user": self.user,
            "scopes": list(self.scopes),
            "workflows": list(self.workflows) if self.workflows is not None else None,
            "created_at": stamp(self.created_at),
            "created_by": self.created_by,
            "expires_at": stamp(self.expires_at),
            "last_used_at": stamp(self.last_used_at),
            "revoked_at": stamp(self.revoked_at),
            "replaced_by": self.replaced_by,
            "active": self.active,
        }


@dataclass(frozen=True)
class CreatedKey:
    """A new key: ``key`` is shown this once and never stored."""

    key: str
    info: KeyInfo


def _info(record: ApiKeyRecord) -> KeyInfo:
    return KeyInfo(
        id=record.id,
        prefix=KEY_PREFIX + record.id,
        name=record.name,
        owner=record.owner,
        user=record.user,
        scopes=record.scopes,
        workflows=record.workflows,
        created_at=record.created_at,
        created_by=record.created_by,
        expires_at=record.expires_at,
        last_used_at=record.last_used_at,
        revoked_at=record.revoked_at,
        replaced_by=record.replaced_by,
    )


class ApiKeys:
    """Creates, checks, lists, revokes and rotates API keys.

    Args:
        store: the metadata store.

    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(
        self,
        creator: Principal,
        *,
        name: str,
        scopes: list[str],
        workflows: list[str] | None = None,
        expires_in: timedelta | None = None,
        user: str | None = None,
    ) -> CreatedKey:
        """Create a key acting as ``user`` (default: the creator) in the creator's organization.

        A key never carries a permission its creator lacks, and acts with the role of the
        member it is for: nobody creates a key for a member whose role is above their own
        (an Administrator cannot mint an Owner's key).

        Raises:
            FlowAtError: bad scopes, name or expiry.
            Forbidden: a scope beyond the creator's role or credential, a key for another
                member by a non-administrator, or for a member above the creator's role.

        """
        clean = check_scopes(scopes)
        for scope in clean:
            if scope != "*" and not creator.can(scope):
                raise Forbidden(f"you cannot give a key the scope {scope}: you do not hold it")
        if "*" in clean and "*" not in creator.scopes:
            raise Forbidden("only a credential with every scope (*) can create a * key")
        if not name or len(name) > 128:
            raise FlowAtError("a key needs a name of 1 to 128 characters")
        if expires_in is not None and expires_in.total_seconds() <= 0:
            raise FlowAtError("a key's expiry must be in the future")
        limited = None if workflows is None else sorted({str(w) for w in workflows})
        if creator.workflows is not None and (
            limited is None or not set(limited) <= set(creator.workflows)
        ):
            raise Forbidden("a workflow-limited credential can only create keys within them")
        acting = user or creator.user
        key_id = secrets.token_hex(6)
        key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"

        def guard() -> None:
            if acting != creator.user and not role_allows(creator.role, "members:write"):
                raise Forbidden("only an administrator creates keys for other members")

        def role_guard(member_role: str) -> None:
            target = Role(member_role)
            if not within(target, creator.role):
                raise Forbidden(
                    f"{acting!r} is {target.value}, above your own role "
                    f"({creator.role.value}); a key acts with its member's role, so only "
                    f"someone with the {target.value} role may create keys for them"
                )

        stored = self.store.add_api_key(
            key_id=key_id,
            owner=creator.owner,
            user=acting,
            name=name,
            key_hash=hash_key(key),
            scopes=clean,
            workflows=limited,
            created_by=creator.user,
            expires_in=expires_in,
            guard=guard,
            role_guard=role_guard,
        )
        return CreatedKey(key=key, info=_info(stored))

    def authenticate(self, key: str) -> Principal:
        """The principal a key stands for, checked against its row and current membership.

        Raises:
            Unauthenticated: malformed, unknown, revoked or expired, or its user left.

        """
        if not key.startswith(KEY_PREFIX) or key.count("_") < 2:
            raise Unauthenticated("not a FlowAt API key (they start with flowat_)")
        key_id = key[len(KEY_PREFIX) :].split("_", 1)[0]
        row = self.store.find_api_key(key_id)
        if row is not None and not hmac.compare_digest(row.key_hash, hash_key(key)):
            raise Unauthenticated("invalid API key", owner=row.owner, via=f"key:{key_id}")
        if row is None:
            raise Unauthenticated("invalid API key")
        now = utcnow()
        known = {"owner": row.owner, "actor": row.user, "via": f"key:{key_id}"}
        if row.revoked_at is not None:
            raise Unauthenticated(f"API key {KEY_PREFIX}{key_id} was revoked", **known)
        expires = row.expires_at
        if expires is not None and expires <= now:
            raise Unauthenticated(
                f"API key {KEY_PREFIX}{key_id} expired at {expires.isoformat()}", **known
            )
        role = self.store.member_role(row.owner, row.user)
        if role is None:
            raise Unauthenticated(
                f"the user of key {KEY_PREFIX}{key_id} is no longer a member", **known
            )
        last = row.last_used_at
        if last is None or now - last > _LAST_USED_RESOLUTION:
            self.store.touch_api_key(key_id, now)
        return Principal(
            user=row.user,
            owner=row.owner,
            role=Role(role),
            scopes=row.scopes,
            workflows=row.workflows,
            via=f"key:{key_id}",
            key_id=key_id,
            expires_at=expires,
        )

    def list(self, owner: str, user: str | None = None) -> list[KeyInfo]:
        """The organization's keys (or one member's), newest first."""
        return [_info(r) for r in self.store.api_keys(owner, user)]

    def get(self, owner: str, key_id: str) -> KeyInfo:
        """One key of the organization.

        Raises:
            NotFoundError: no such key in this organization.

        """
        return _info(self.store.api_key(owner, key_id))

    def revoke(self, actor: Principal, key_id: str) -> KeyInfo:
        """Revoke a key; requests with it fail from now on."""
        return _info(self.store.revoke_api_key(actor.owner, key_id, actor.user))

    def rotate(self, actor: Principal, key_id: str, overlap: timedelta) -> CreatedKey:
        """Replace a key with a new one of the same scopes; the old one works ``overlap`` longer.

        Raises:
            FlowAtError: the key is revoked or expired, or the overlap is negative.

        """
        if overlap.total_seconds() < 0:
            raise FlowAtError("the overlap of a rotation cannot be negative")
        old = self.get(actor.owner, key_id)
        if not old.active:
            raise FlowAtError(f"key {old.prefix} is revoked or expired; create a new one instead")
        lifetime = None
        if old.expires_at is not None:
            lifetime = max(old.expires_at - old.created_at, timedelta(seconds=1))
        created = self.create(
            actor,
            name=old.name,
            scopes=list(old.scopes),
            workflows=list(old.workflows) if old.workflows is not None else None,
            expires_in=lifetime,
            user=old.user,
        )
        self.store.replace_api_key(actor.owner, key_id, created.info.id, overlap, actor.user)
        return created
