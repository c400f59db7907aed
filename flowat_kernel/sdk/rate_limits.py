"""Rate limits per connector host, shared through the metadata store: calls wait, never fail.

An organization's Administrator or Owner limits how hard its runs may hit a host
(``flowat ratelimit set HOST --per-second N --concurrent N``):

- ``concurrent``: at most N calls to the host in flight at once;
- ``per_second``: at most N calls reach the host in any one-second window (a call
  counts from its start until one second after it ended, so a slow host is never sent
  more than N requests within a second, however its answers are spaced).

Every worker process admits calls through the same store rows
(:mod:`flowat_kernel.store.rate_limit_records`), so the limit holds across processes
and hosts. A call over the limit waits (the step keeps heartbeating; its timeout still
applies) and goes ahead as soon as a slot frees; nothing fails because of a limit.

A limit names a connector (``http``) or every connector (``*``), and a host as the
circuit breaker keys it (``api.example.com`` or ``api.example.com:8443``); a limit on
the bare host name also covers every port of it.
"""

from __future__ import annotations

import os
import random
import re
import time
from dataclasses import dataclass

from flowat_kernel.errors import ConfigError
from flowat_kernel.step_context import HostLimits
from flowat_kernel.store import Store

__all__ = [
    "HostRateLimits",
    "host_candidates",
    "lease_seconds",
    "normalise_host",
    "wait_for_slot",
]

_HOST = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9*](?:[a-z0-9._*-]{0,252}))(?::(\d{1,5}))?$")
_jitter = random.Random()  # spacing waiting callers apart is not a security decision


def normalise_host(text: str) -> str:
    """``text`` as a limit's host: lower case, ``host`` or ``host:port``.

    Raises:
        ConfigError: not a host name, address or ``host:port`` (a URL, spaces, a path).

    """
    host = str(text).strip().lower()
    match = _HOST.match(host)
    if not match or (match.group(2) is not None and not 0 < int(match.group(2)) < 65536):
        raise ConfigError(
            f"{text!r} is not a host: give a host name or address, optionally with :port "
            "(e.g. api.example.com or 127.0.0.1:8080), not a URL"
        )
    return host


def host_candidates(host: str) -> tuple[str, ...]:
    """The limit keys a call to ``host`` (the breaker's key) matches, most specific first."""
    host = host.lower()
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and (":" not in name or name.endswith("]")):
        return (host, name)
    return (host,)


def lease_seconds() -> float:
    """How long an admitted call holds its slot at most (``FLOWAT_RATE_LIMIT_LEASE``, 600 s).

    A worker that dies mid-call frees its slot after this long.

    Raises:
        ConfigError: not a positive number.

    """
    text = os.environ.get("FLOWAT_RATE_LIMIT_LEASE") or "600"
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise ConfigError("FLOWAT_RATE_LIMIT_LEASE must be a positive number of seconds")
    return value


@dataclass(frozen=True)
class HostRateLimits:
    """One organization's host limits, as connectors' calls consult them (in the worker)."""

    store: Store
    owner: str | None

    def try_acquire(self, connector: str, host: str) -> tuple[str | None, float]:
        """Admit one call now: ``(lease, 0)``, ``("", 0)`` with no limit, or ``(None, wait)``."""
        if self.owner is None:
            return "", 0.0
        limit = self.store.rate_limit_for(self.owner, connector, host_candidates(host))
        if limit is None:
            return "", 0.0
        admission = self.store.try_rate_slot(self.owner, limit, lease_seconds())
        return admission.lease, admission.retry_after

    def release(self, lease: str) -> None:
        """The admitted call ended."""
        if lease and self.owner is not None:
            self.store.end_rate_slot(self.owner, lease)


def wait_for_slot(limits: HostLimits, connector: str, host: str) -> tuple[str, float]:
    """Wait until a call of ``connector`` to ``host`` is admitted.

    Returns:
        The lease to release when the call ends (``""``: no limit) and the seconds waited.

    """
    started = time.monotonic()
    while True:
        lease, retry_after = limits.try_acquire(connector, host)
        if lease is not None:
            return lease, time.monotonic() - started
        # A little jitter, so callers woken together do not retry in lockstep.
        time.sleep(retry_after * (1.0 + 0.25 * _jitter.random()))
