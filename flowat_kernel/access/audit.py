"""The audit log: who did what, when, in an organization.

Actions taken through the REST API and the access CLI (keys, members, webhooks,
schedules, runs they start) are written to the ``audit_log`` table by the store
methods that make them (see :mod:`flowat_kernel.store.audit_records`). Publishes, secret
changes and runs started from the notebook or the CLI are read from the records the
store keeps anyway (versions, secret events, runs), so the log is complete whichever
path made the change.

Entries written while an API request is served also name the credential it came with
(``via``: ``key:ID`` or ``session:ID``, and ``key`` for a session's key). Refused
requests (401 and 403) are recorded as ``access.denied`` by :class:`DeniedAttempts`, at
most a few per credential and per address each minute, so a flood cannot fill the store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from flowat_kernel.store import Store
from flowat_kernel.store.clock import aware, utcnow

__all__ = ["API_TRIGGERS", "AuditEntry", "DeniedAttempts", "query", "record_now"]

AuditEntry = dict[str, Any]

#: Run triggers that write their own audit entry (with the caller as actor).
API_TRIGGERS = frozenset({"rest", "webhook", "schedule"})


def record_now(
    store: Store, owner: str, actor: str, action: str, target: str, detail: dict[str, Any]
) -> None:
    """Add an entry in a transaction of its own.

    Changes made through the store's access and trigger methods write their entry in
    their own transaction; this is for actions recorded nowhere else (runs started).
    """
    store.add_audit(owner, actor, action, target, detail)


def _entry(at: datetime | None, actor: str, action: str, target: str, detail: Any) -> AuditEntry:
    stamp = aware(at) or utcnow()
    return {
        "at": stamp.isoformat(),
        "actor": actor,
        "action": action,
        "target": target,
        "detail": detail or {},
    }


def query(
    store: Store,
    owner: str,
    *,
    limit: int = 50,
    before: datetime | None = None,
    action: str | None = None,
) -> list[AuditEntry]:
    """The organization's entries, newest first.

    Args:
        store: the metadata store.
        owner: the organization's slug.
        limit: at most this many entries.
        before: only entries strictly older than this (the ``at`` of the last entry of
            the previous page).
        action: only entries whose action starts with this (``run``, ``key.created``).

    """
    entries = [
        _entry(e.at, e.actor, e.action, e.target, e.detail)
        for e in store.audit_sources(
            owner, limit=limit, before=before, logged_triggers=API_TRIGGERS, action=action
        )
    ]
    entries.sort(key=lambda e: e["at"], reverse=True)
    return entries[:limit]


Verdict = Literal["logged", "summarized", "dropped"]


@dataclass
class _Window:
    started: float
    count: int = 0


@dataclass
class DeniedAttempts:
    """Audits refused requests, rate-limited per source so a flood cannot fill the store.

    Each attempt names its sources (a fingerprint of the credential, the client's
    address). Within one ``window`` seconds a source gets at most ``per_source`` entries;
    the next attempt writes one ``access.denied.suppressed`` entry saying that further
    ones are not recorded until the window ends, and the rest are dropped. At most
    ``total`` entries are written per window over all sources, so many sources (forged
    credentials from many addresses) cannot fill the store either.

    Args:
        per_source: entries per source and window.
        window: the window's length in seconds.
        total: entries per window over all sources.
        clock: monotonic seconds (for tests).

    """

    per_source: int = 10
    window: float = 60.0
    total: int = 600
    clock: Callable[[], float] = time.monotonic
    _windows: dict[str, _Window] = field(default_factory=dict)
    _overall: _Window = field(default_factory=lambda: _Window(-1e18))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def verdict(self, sources: list[str]) -> Verdict:
        """Count one attempt from ``sources``: whether to log it, summarize, or drop it."""
        now = self.clock()
        with self._lock:
            if now - self._overall.started >= self.window:
                self._overall = _Window(now)
                self._prune(now)
            counts = []
            for source in sources:
                found = self._windows.get(source)
                if found is None or now - found.started >= self.window:
                    found = self._windows[source] = _Window(now)
                found.count += 1
                counts.append(found.count)
            highest = max(counts, default=0)
            if highest > self.per_source + 1 or self._overall.count >= self.total:
                return "dropped"  # the summary of this window is written already
            self._overall.count += 1
            return "summarized" if highest > self.per_source else "logged"

    def _prune(self, now: float) -> None:
        stale = [k for k, w in self._windows.items() if now - w.started >= self.window]
        for key in stale:
            del self._windows[key]

    def record(
        self,
        store: Store,
        owner: str,
        actor: str,
        *,
        sources: list[str],
        target: str,
        detail: dict[str, Any],
    ) -> Verdict:
        """Audit one refused request (``target`` is the path) unless its sources flooded.

        Args:
            store: the metadata store.
            owner: the organization to record it in.
            actor: the member the credential names, or ``anonymous``.
            sources: what the attempt is counted against (never a credential itself).
            target: the request's path (webhook tokens masked).
            detail: status, method, reason, credential and address.

        """
        verdict = self.verdict(sources)
        if verdict == "logged":
            store.add_audit(owner, actor, "access.denied", target, detail)
        elif verdict == "summarized":
            summary = {
                "sources": sources,
                "limit": self.per_source,
                "window_seconds": self.window,
                "last": detail,
            }
            store.add_audit(owner, actor, "access.denied.suppressed", target, summary)
        return verdict
