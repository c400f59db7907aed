"""The workspace's rate limits per connector host (Administrators and Owners set them).

A limit caps how hard the organization's runs may hit one host: calls in flight at
once (``concurrent``) and calls within any one second (``per_second``), for one
connector or every connector (``*``). Calls over a limit wait for a slot; the limit is
shared by every worker through the store (:mod:`flowat_kernel.sdk.rate_limits`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowat_kernel.errors import FlowAtError, NotFoundError

if TYPE_CHECKING:
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.store.rate_limit_records import RateLimitInfo
    from flowat_kernel.workspace.services import Services

__all__ = ["MAX_RATE", "RateLimitUseCases"]

#: The largest value either limit takes.
MAX_RATE = 100_000


def _connector(name: str | None) -> str:
    from flowat_kernel.sdk.registry import connectors

    name = (name or "*").strip()
    if name == "*":
        return name
    known = sorted(connectors())
    if name not in known:
        raise FlowAtError(
            f"unknown connector {name!r}: give one of {', '.join(known)}, or * for every connector"
        )
    return name


def _limit(option: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RATE:
        raise FlowAtError(f"{option} must be a whole number from 1 to {MAX_RATE}, not {value!r}")
    return value


class RateLimitUseCases:
    """Host rate limits of the workspace's organization."""

    services: Services
    principal: Principal

    def set_rate_limit(
        self,
        host: str,
        *,
        per_second: int | None = None,
        concurrent: int | None = None,
        connector: str | None = None,
    ) -> RateLimitInfo:
        """Limit calls to ``host`` (replacing the limit for the same connector and host).

        Args:
            host: ``name``, ``address`` or ``name:port`` as connectors reach it; a bare
                name also covers every port.
            per_second: at most this many calls within any one second.
            concurrent: at most this many calls in flight at once.
            connector: one connector's calls (``http``, ``llm``, ...); ``None`` or ``*``:
                every connector's.

        Raises:
            Forbidden: the caller is not an Administrator or Owner (``ratelimits:write``).
            FlowAtError: a bad host or connector, or neither limit given.

        """
        from flowat_kernel.sdk.rate_limits import normalise_host

        who = self.principal
        who.require("ratelimits:write")
        key = normalise_host(host)
        chosen = _connector(connector)
        rps = _limit("--per-second", per_second)
        slots = _limit("--concurrent", concurrent)
        if rps is None and slots is None:
            raise FlowAtError("give --per-second N, --concurrent N, or both")
        store = self.services.store
        info = store.set_rate_limit(who.owner, chosen, key, rps, slots, who.user)
        store.add_audit(
            who.owner,
            who.user,
            "ratelimit.set",
            f"{chosen}@{key}",
            {"per_second": rps, "concurrent": slots},
        )
        return info

    def rate_limits(self) -> list[RateLimitInfo]:
        """The organization's host rate limits."""
        self.principal.require("ratelimits:read")
        return self.services.store.rate_limits(self.principal.owner)

    def remove_rate_limit(self, host: str, *, connector: str | None = None) -> RateLimitInfo:
        """Remove the limit for ``connector`` (``None``: ``*``) at ``host``.

        Raises:
            Forbidden: the caller is not an Administrator or Owner.
            NotFoundError: no such limit in the organization.

        """
        from flowat_kernel.sdk.rate_limits import normalise_host

        who = self.principal
        who.require("ratelimits:write")
        key = normalise_host(host)
        chosen = (connector or "*").strip()
        removed = self.services.store.remove_rate_limit(who.owner, chosen, key)
        if removed is None:
            raise NotFoundError(f"no rate limit for connector {chosen!r} at {key!r}")
        self.services.store.add_audit(
            who.owner, who.user, "ratelimit.removed", f"{chosen}@{key}", {}
        )
        return removed
