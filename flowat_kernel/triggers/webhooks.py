"""Per-workflow webhook URLs: an unguessable token, optionally an HMAC signing secret.

Only the token's SHA-256 is stored (the URL is shown once, like an API key); the
signing secret is kept wrapped in the vault because verifying needs it. A resolved
webhook is reused for a few seconds (:mod:`~flowat_kernel.triggers.webhook_cache`
says for how long, and what deleting or rotating means meanwhile).
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

from flowat_kernel.access.errors import Conflict, Unauthenticated
from flowat_kernel.access.principal import Principal
from flowat_kernel.access.sealed_keys import add_key, drop_key, load_keys
from flowat_kernel.errors import FlowAtError
from flowat_kernel.store.clock import utcnow
from flowat_kernel.store.trigger_records import DeliveryRecord, WebhookRecord
from flowat_kernel.triggers import webhook_cache
from flowat_kernel.triggers.signatures import TOLERANCE_SECONDS, encode_secret
from flowat_kernel.vault.vault import Vault

__all__ = [
    "CreatedWebhook",
    "WebhookInfo",
    "Webhooks",
    "check_batch",
    "parse_window",
    "require_events_input",
]

PURPOSE = "webhook"
TOKEN_PREFIX = "wh_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class WebhookInfo(WebhookRecord):
    """A webhook's metadata (never its token or secret): the store's record, shown."""

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
            "batch": self.batch_size,
            "batch_window_ms": self.batch_window_ms,
        }


@dataclass(frozen=True)
class CreatedWebhook:
    """A new webhook: ``token`` (in the URL) and ``secret`` are shown this once."""

    info: WebhookInfo
    token: str
    secret: str | None


def _info(record: WebhookRecord) -> WebhookInfo:
    return WebhookInfo(**{f.name: getattr(record, f.name) for f in fields(record)})


class Webhooks:
    """Creates, lists, deletes and resolves webhooks, and suppresses duplicate deliveries.

    Args:
        vault: the vault (its store holds the rows, its keys wrap the signing secrets).

    """

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.store = vault.store
        #: Which database this registry reads (the resolve cache's key, no password).
        self._database = vault.store.engine.url.render_as_string(hide_password=True)

    def create(
        self,
        actor: Principal,
        workflow: str,
        version: int | None,
        signed: bool,
        batch: int | None = None,
        batch_window_ms: int | None = None,
    ) -> CreatedWebhook:
        """A new webhook for ``workflow`` (a pinned version, or the latest at delivery).

        With ``batch``, events arriving within ``batch_window_ms`` of the first are
        grouped (up to ``batch`` of them) into one run (:mod:`~flowat_kernel.triggers.batching`).
        """
        if batch is not None:
            batch_window_ms = check_batch(batch, batch_window_ms)
        webhook_id = secrets.token_hex(8)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        secret = None
        if signed:
            _, key = add_key(self.vault, PURPOSE, kid=f"wh-{webhook_id}")
            secret = encode_secret(key)

        stored = self.store.add_webhook(
            webhook_id=webhook_id,
            owner=actor.owner,
            workflow=workflow,
            version=version,
            token_hash=_hash(token),
            token_hint=token[:8],
            signed=signed,
            created_by=actor.user,
            batch_size=batch,
            batch_window_ms=batch_window_ms if batch is not None else None,
        )
        return CreatedWebhook(_info(stored), token, secret)

    def list(self, owner: str) -> list[WebhookInfo]:
        """The organization's webhooks."""
        return [_info(r) for r in self.store.webhooks(owner)]

    def get(self, owner: str, webhook_id: str) -> WebhookInfo:
        """One webhook of the organization.

        Raises:
            NotFoundError: no such webhook in this organization.

        """
        return _info(self.store.webhook(owner, webhook_id))

    def delete(self, actor: Principal, webhook_id: str) -> None:
        """Delete a webhook: its URL stops working at once."""
        info = self.get(actor.owner, webhook_id)
        self.store.delete_webhook(actor.owner, webhook_id, actor.user)
        webhook_cache.forget(webhook_id)
        if info.signed:
            drop_key(self.vault, PURPOSE, f"wh-{webhook_id}")

    def resolve(self, token: str) -> tuple[WebhookInfo, bytes | None]:
        """The webhook of a URL token, and its signing key when it is signed.

        Reused for a few seconds per token (see
        :mod:`~flowat_kernel.triggers.webhook_cache`); every check of a delivery still
        runs against what is returned.

        Raises:
            Unauthenticated: no webhook has this token.

        """
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            raise Unauthenticated("unknown webhook")
        token_hash = _hash(token)
        return webhook_cache.lookup(self._database, token_hash, lambda: self._load(token_hash))

    def _load(self, token_hash: str) -> tuple[WebhookInfo, bytes | None]:
        """:meth:`resolve` from the store and the vault."""
        found = self.store.find_webhook(token_hash)
        if found is None:
            raise Unauthenticated("unknown webhook")
        info = _info(found)
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
        horizon = now - timedelta(seconds=2 * TOLERANCE_SECONDS)
        if not self.store.claim_webhook_delivery(webhook_id, message_id, now, horizon):
            raise Conflict(f"delivery {message_id!r} was received before; ignored")

    def release_delivery(self, webhook_id: str, message_id: str) -> None:
        """Forget a delivery id whose run could not start, so a retry is accepted."""
        self.store.release_webhook_delivery(webhook_id, message_id)

    def delivered(self, webhook_id: str, message_id: str | None, run_id: str) -> None:
        """Note the run a delivery started."""
        self.store.webhook_delivered(webhook_id, message_id, run_id)

    def claim_batch(self, webhook_id: str, message_ids: builtins.list[str]) -> set[str]:
        """Remember a batch's delivery ids at once; those not delivered before."""
        now = utcnow()
        horizon = now - timedelta(seconds=2 * TOLERANCE_SECONDS)
        return self.store.claim_webhook_batch(webhook_id, message_ids, now, horizon)

    def deliveries(self, webhook_id: str, limit: int = 100) -> builtins.list[DeliveryRecord]:
        """The deliveries remembered for a webhook (batched ones with their outcome)."""
        return self.store.webhook_deliveries(webhook_id, limit)


#: The largest batch and the longest window a webhook may ask for.
MAX_BATCH = 1000
MAX_WINDOW_MS = 10_000
DEFAULT_WINDOW_MS = 20


def parse_window(text: str | int | None) -> int | None:
    """A batch window as milliseconds: ``20ms``, ``0.5s``, or a number of milliseconds.

    Raises:
        FlowAtError: not a positive duration (a usage error).

    """
    if text is None:
        return None
    raw = str(text).strip().lower()
    scale, number = 1.0, raw
    if raw.endswith("ms"):
        number = raw[:-2]
    elif raw.endswith("s"):
        scale, number = 1000.0, raw[:-1]
    try:
        value = float(number) * scale
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_WINDOW_MS:
        raise FlowAtError(f"{text!r} is not a batch window; write for example 20ms or 0.5s")
    return max(round(value), 1)


def require_events_input(version: Any) -> None:
    """A batching webhook's workflow must take the list of events as input ``events``.

    Raises:
        FlowAtError: the version has no ``events`` input (a usage error).

    """
    if "events" not in {i.name for i in version.spec.inputs}:
        raise FlowAtError(
            f"workflow {version.workflow!r} has no input 'events': a batching webhook passes "
            "the list of events there (add `events = []` to its parameters cell and run "
            "its steps with --foreach events)"
        )


def check_batch(batch: int, window_ms: int | None) -> int:
    """The window of a batching webhook, after checking both numbers.

    Raises:
        FlowAtError: a batch size or window out of range (a usage error).

    """
    if not 1 <= batch <= MAX_BATCH:
        raise FlowAtError(f"--batch must be 1 to {MAX_BATCH} events, not {batch}")
    window = DEFAULT_WINDOW_MS if window_ms is None else window_ms
    if not 1 <= window <= MAX_WINDOW_MS:
        raise FlowAtError(f"--batch-window must be 1ms to {MAX_WINDOW_MS // 1000}s, not {window}ms")
    return window
