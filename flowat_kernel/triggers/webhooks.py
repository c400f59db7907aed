"""Per-workflow webhook URLs: an unguessable token, optionally an HMAC signing secret.

Only the token's SHA-256 is stored (the URL is shown once, like an API key); the
signing secret is kept wrapped in the vault because verifying needs it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flowat_kernel.access.audit import record
from flowat_kernel.access.errors import Conflict, Unauthenticated
from flowat_kernel.access.principal import Principal
from flowat_kernel.access.sealed_keys import add_key, drop_key, load_keys
from flowat_kernel.errors import NotFoundError
from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.tables import WebhookDeliveryRow, WebhookRow
from flowat_kernel.triggers.signatures import TOLERANCE_SECONDS, encode_secret
from flowat_kernel.vault.vault import Vault

__all__ = ["CreatedWebhook", "WebhookInfo", "Webhooks"]

PURPOSE = "webhook"
TOKEN_PREFIX = "wh_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class WebhookInfo:
    """A webhook's metadata (never its token or secret)."""

    id: str
    owner: str
    workflow: str
    version: int | None
    token_hint: str
    signed: bool
    created_at: datetime
    created_by: str
    last_delivery_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able metadata."""
        last = self.last_delivery_at
        return {
            "id": self.id,
            "workflow": self.workflow,
            "version": self.version,
            "token_hint": self.token_hint,
            "signed": self.signed,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "last_delivery_at": last.isoformat() if last else None,
        }


@dataclass(frozen=True)
class CreatedWebhook:
    """A new webhook: ``token`` (in the URL) and ``secret`` are shown this once."""

    info: WebhookInfo
    token: str
    secret: str | None


def _info(row: WebhookRow) -> WebhookInfo:
    return WebhookInfo(
        id=row.id,
        owner=row.owner,
        workflow=row.workflow,
        version=row.version,
        token_hint=row.token_hint,
        signed=row.signed,
        created_at=aware(row.created_at) or utcnow(),
        created_by=row.created_by,
        last_delivery_at=aware(row.last_delivery_at),
    )


class Webhooks:
    """Creates, lists, deletes and resolves webhooks, and suppresses duplicate deliveries.

    Args:
        vault: the vault (its store holds the rows, its keys wrap the signing secrets).

    """

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.store = vault.store

    def create(
        self, actor: Principal, workflow: str, version: int | None, signed: bool
    ) -> CreatedWebhook:
        """A new webhook for ``workflow`` (a pinned version, or the latest at delivery)."""
        webhook_id = secrets.token_hex(8)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        secret = None
        if signed:
            _, key = add_key(self.vault, PURPOSE, kid=f"wh-{webhook_id}")
            secret = encode_secret(key)

        def work(session: Session) -> WebhookInfo:
            row = WebhookRow(
                id=webhook_id,
                owner=actor.owner,
                workflow=workflow,
                version=version,
                token_hash=_hash(token),
                token_hint=token[:8],
                signed=signed,
                created_at=utcnow(),
                created_by=actor.user,
            )
            session.add(row)
            detail = {"workflow": workflow, "version": version, "signed": signed}
            record(session, actor.owner, actor.user, "webhook.created", webhook_id, detail)
            session.flush()
            return _info(row)

        return CreatedWebhook(self.store.transaction(work), token, secret)

    def list(self, owner: str) -> list[WebhookInfo]:
        """The organization's webhooks."""
        query = select(WebhookRow).where(WebhookRow.owner == owner).order_by(WebhookRow.created_at)
        return self.store.transaction(lambda s: [_info(r) for r in s.scalars(query)])

    def get(self, owner: str, webhook_id: str) -> WebhookInfo:
        """One webhook of the organization.

        Raises:
            NotFoundError: no such webhook in this organization.

        """

        def work(session: Session) -> WebhookInfo:
            row = session.get(WebhookRow, webhook_id)
            if row is None or row.owner != owner:
                raise NotFoundError(f"no webhook {webhook_id!r} in this organization")
            return _info(row)

        return self.store.transaction(work)

    def delete(self, actor: Principal, webhook_id: str) -> None:
        """Delete a webhook: its URL stops working at once."""
        info = self.get(actor.owner, webhook_id)

        def work(session: Session) -> None:
            session.execute(delete(WebhookRow).where(WebhookRow.id == webhook_id))
            session.execute(
                delete(WebhookDeliveryRow).where(WebhookDeliveryRow.webhook_id == webhook_id)
            )
            record(session, actor.owner, actor.user, "webhook.deleted", webhook_id, {})

        self.store.transaction(work)
        if info.signed:
            drop_key(self.vault, PURPOSE, f"wh-{webhook_id}")

    def resolve(self, token: str) -> tuple[WebhookInfo, bytes | None]:
        """The webhook of a URL token, and its signing key when it is signed.

        Raises:
            Unauthenticated: no webhook has this token.

        """
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            raise Unauthenticated("unknown webhook")
        rows = self.store.read(select(WebhookRow).where(WebhookRow.token_hash == _hash(token)))
        if not rows:
            raise Unauthenticated("unknown webhook")
        row: Any = rows[0]  # a row of columns, attribute-compatible with WebhookRow
        info = _info(row)
        key = None
        if info.signed:
            keys = load_keys(self.vault, PURPOSE, kid=f"wh-{info.id}")
            if not keys:
                raise Unauthenticated("this webhook's signing key is gone; create a new webhook")
            key = keys[0][1]
        return info, key

    def claim_delivery(self, webhook_id: str, message_id: str) -> None:
        """Remember a delivery id; forget ids older than twice the replay window.

        Raises:
            Conflict: this id was delivered before.

        """
        now = utcnow()

        def work(session: Session) -> None:
            horizon = now - timedelta(seconds=2 * TOLERANCE_SECONDS)
            session.execute(
                delete(WebhookDeliveryRow).where(WebhookDeliveryRow.received_at < horizon)
            )
            session.add(
                WebhookDeliveryRow(webhook_id=webhook_id, message_id=message_id, received_at=now)
            )

        try:
            self.store.transaction(work)
        except IntegrityError:
            raise Conflict(f"delivery {message_id!r} was received before; ignored") from None

    def release_delivery(self, webhook_id: str, message_id: str) -> None:
        """Forget a delivery id whose run could not start, so a retry is accepted."""
        self.store.transaction(
            lambda s: s.execute(
                delete(WebhookDeliveryRow).where(
                    WebhookDeliveryRow.webhook_id == webhook_id,
                    WebhookDeliveryRow.message_id == message_id,
                )
            )
        )

    def delivered(self, webhook_id: str, message_id: str | None, run_id: str) -> None:
        """Note the run a delivery started."""

        def work(session: Session) -> None:
            row = session.get(WebhookRow, webhook_id)
            if row is not None:
                row.last_delivery_at = utcnow()
            if message_id is not None:
                delivery = session.get(WebhookDeliveryRow, (webhook_id, message_id))
                if delivery is not None:
                    delivery.run_id = run_id

        self.store.transaction(work)
