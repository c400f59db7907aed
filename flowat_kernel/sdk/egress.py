"""The egress policy every network connector applies to the hosts it connects to.

Two policies:

- ``open``: any host, as the system resolves it (proxies from the environment too).
- ``public``: only globally routable unicast addresses. The host's name is resolved
  once with ``socket.getaddrinfo``, *every* address is checked, and the connection goes
  to the checked address (so a second DNS answer cannot swap it). Loopback, private,
  link-local (cloud metadata), shared, multicast, reserved and unspecified addresses
  are refused, also when an IPv6 address embeds one (mapped, NAT64, 6to4). Hosts and
  networks the Administrator lists in ``FLOWAT_EGRESS_ALLOW`` are still reached.

Which policy applies is configuration, not the step author's choice
(:func:`policy`): ``FLOWAT_EGRESS=open`` or ``public`` for every call, or ``auto`` (the
default): ``public`` for steps of runs started through the REST API, webhooks,
schedules, reruns and anything else not started locally, ``open`` for runs started
locally (Python API, CLI, notebook, papermill) and for actions tried in a notebook
outside a run. An author may ask for ``public`` where ``open`` applies, never the
reverse.

An organization's Owner may choose the policy of the organization's runs
(``flowat access egress auto|open|public|installation``, ``PUT /api/v1/organization``):
it replaces the installation's ``auto`` or ``open``, but never loosens an installation
set to ``public``. The worker reads the choice from the store with each step (cached a
few seconds, see :func:`organization_policy`); when it cannot be read, ``public``
applies.

Connectors use :func:`destination` (check a host, get the address to connect to) or,
with httpx, :func:`httpx_options` (a transport that checks every request and redirect).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections import OrderedDict
from typing import Any, Literal, Protocol, cast

import httpx

from flowat_kernel.config import settings
from flowat_kernel.sdk.errors import ActionError
from flowat_kernel.step_context import current_scope

__all__ = [
    "LOCAL_TRIGGERS",
    "Policy",
    "PublicOnlyTransport",
    "combined",
    "configured",
    "destination",
    "forget_organization",
    "httpx_options",
    "is_public",
    "organization_policy",
    "policy",
    "public_address",
    "resolve",
    "run_trigger",
]

Policy = Literal["open", "public"]

#: Runs started by these triggers are local (the user at their own machine): ``auto``
#: gives them ``open``. Every other trigger (``rest``, ``webhook``, ``schedule``,
#: ``rerun``, an unknown one) gets ``public``.
LOCAL_TRIGGERS = frozenset({"api", "cli", "notebook", "papermill"})

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CHILD = "workflow:"  # a sub-workflow's trigger: workflow:<parent run id>

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def configured() -> str:
    """``auto``, ``open`` or ``public``: the installation's choice, or the organization's.

    Raises:
        ConfigError: ``FLOWAT_EGRESS`` is set to something else than auto, open, public.

    """
    scope = current_scope()
    return combined(settings().egress, scope.organization_egress if scope is not None else None)


def combined(installation: str, chosen: str | None) -> str:
    """The policy in effect for an organization that chose ``chosen`` (``None``: none).

    The organization's choice replaces the installation's ``auto`` or ``open``; an
    installation set to ``public`` stays ``public``.
    """
    if installation == "public" or chosen not in ("auto", "open", "public"):
        return installation
    return str(chosen)


def policy(requested: Policy | None = None) -> Policy:
    """The policy of a call now: the configured one, made stricter if ``requested``.

    Raises:
        ConfigError: ``FLOWAT_EGRESS`` is set to something else than auto, open, public.

    """
    configured_now = configured()
    if configured_now == "auto":
        scope = current_scope()
        local = scope is None or scope.run_id is None or scope.trigger in LOCAL_TRIGGERS
        configured_now = "open" if local else "public"
    return "public" if requested == "public" else cast(Policy, configured_now)


def _why(requested: Policy | None) -> str:
    """Why ``public`` applies, for error messages."""
    installation = settings().egress
    configured_now = configured()
    source = "FLOWAT_EGRESS" if configured_now == installation else "the organization's policy"
    if installation == "public":
        return "FLOWAT_EGRESS=public"
    if configured_now == "public":
        return "the organization's policy is public"
    if configured_now == "auto" and policy() == "public":
        scope = current_scope()
        trigger = scope.trigger if scope is not None else None
        return f"runs started by {trigger or 'an unknown trigger'} ({source}: auto)"
    return "the step asked for it" if requested == "public" else "configuration"


def is_public(address: Address) -> bool:
    """Whether ``address`` is a globally routable unicast address.

    IPv6 addresses that embed an IPv4 one (mapped, 6to4, NAT64) are judged by it.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # the connection goes to the IPv4 address
            return is_public(address.ipv4_mapped)
        if address in _NAT64:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None and not is_public(address.sixtofour):
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, for TCP (IPv6 zone ids dropped)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]).split("%")[0] for info in infos]


def _allowed() -> tuple[set[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    """``FLOWAT_EGRESS_ALLOW``: host names (lower case) and networks."""
    names: set[str] = set()
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for entry in settings().egress_allow:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry.lower().rstrip("."))
    return names, networks


def public_address(host: str, port: int, label: str, requested: Policy | None = None) -> str:
    """Resolve ``host`` and return an address to connect to, if every one may be reached.

    Raises:
        ActionError: the name does not resolve (retryable), or an address is not
            public nor allowed (not retryable).

    """
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ActionError(
            f"{label}: cannot resolve {host!r} ({reason}); a later attempt may succeed",
            retryable=True,
            host=host,
        ) from exc
    if not addresses:
        raise ActionError(f"{label}: {host!r} has no address", retryable=True, host=host)
    names, networks = _allowed()
    if host.lower().rstrip(".") in names:
        return addresses[0]
    for text in addresses:
        address = ipaddress.ip_address(text)
        if is_public(address) or any(address in network for network in networks):
            continue
        shown = host if host == text else f"{host} ({text})"
        raise ActionError(
            f"{label}: egress policy 'public' ({_why(requested)}) refuses {shown}: not a "
            "public address (loopback, private, link-local, multicast or reserved); the "
            "installation's administrator can allow it with FLOWAT_EGRESS_ALLOW (a host or "
            "network) or set FLOWAT_EGRESS=open, or the organization's Owner can choose "
            "`flowat access egress open`",
            retryable=False,
            host=host,
        )
    return addresses[0]


def destination(host: str, port: int, label: str, requested: Policy | None = None) -> str:
    """Where to connect for ``host:port`` under the policy of this call.

    ``host`` itself under ``open``; under ``public`` the checked address: connect to it,
    and keep ``host`` for TLS and virtual hosting.

    Raises:
        ActionError: as :func:`public_address`.

    """
    if policy(requested) == "open":
        return host
    return public_address(host, port, label, requested)


class PublicOnlyTransport(httpx.HTTPTransport):
    """Sends each request (every redirect included) only to a checked address.

    A host name is resolved once, here; the connection goes to the address that was
    checked, with the original ``Host`` header and TLS server name.
    """

    def __init__(self, label: str, requested: Policy | None = None) -> None:
        super().__init__()
        self.label = label
        self.requested = requested

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Check the destination, pin its address, send."""
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        address = public_address(url.host, port, self.label, self.requested)
        if address != url.host:
            headers = httpx.Headers(request.headers)
            headers.setdefault("Host", url.netloc.decode("ascii"))
            request = httpx.Request(
                request.method,
                url.copy_with(host=address),
                headers=headers,
                stream=request.stream,
                extensions={**request.extensions, "sni_hostname": url.host},
            )
        return super().handle_request(request)


def httpx_options(label: str, requested: Policy | None = None) -> dict[str, Any]:
    """``httpx.Client`` keyword arguments that apply the policy of this call.

    Under ``public``: the checking transport, and no proxies from the environment
    (they would connect on our behalf).
    """
    if policy(requested) == "open":
        return {}
    return {"transport": PublicOnlyTransport(label, requested), "trust_env": False}


class _Organizations(Protocol):
    def organization(self, slug: str) -> Any: ...


_ORGANIZATION_SECONDS = 5.0


def organization_policy(organizations: _Organizations, owner: str | None) -> str | None:
    """Organization ``owner``'s egress choice: ``auto``, ``open``, ``public`` or ``None``.

    ``None`` follows the installation. A choice is cached for a few seconds, so a change
    by the Owner applies to steps that start after that; when the store cannot be read
    (and nothing is cached) the answer is ``public``, failing closed.
    """
    if owner is None:
        return None
    now = time.monotonic()
    with _organizations_lock:
        cached = _organizations.get(owner)
    if cached is not None and now - cached[0] < _ORGANIZATION_SECONDS:
        return cached[1]
    try:
        chosen = organizations.organization(owner).egress
    except Exception:  # the store is down or the organization unknown: fail closed
        return "public"
    found = chosen if chosen in ("auto", "open", "public") else None
    with _organizations_lock:
        _organizations[owner] = (now, found)
        while len(_organizations) > 1024:
            _organizations.popitem(last=False)
    return found


def forget_organization(owner: str) -> None:
    """Drop the cached choice of ``owner`` (after a change in this process)."""
    with _organizations_lock:
        _organizations.pop(owner, None)


_organizations: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
_organizations_lock = threading.Lock()


class _Runs(Protocol):
    def get_run(self, run_id: str) -> Any: ...


def run_trigger(runs: _Runs, run_id: str, own: str | None = None) -> str | None:
    """The trigger of ``run_id``'s record, or of its root run for a sub-workflow.

    ``own`` is the run's own trigger when the caller has read it already: unless the
    run is a sub-workflow (``workflow:<parent>``), that is the answer, without a read.
    ``None`` when a record cannot be read (the policy then treats the run as remote).
    Found triggers are cached: a run's trigger never changes.
    """
    if own is not None and not own.startswith(_CHILD):
        return own
    with _triggers_lock:
        if run_id in _triggers:
            return _triggers[run_id]
    current: str | None = run_id
    trigger: str | None = None
    for _ in range(16):  # sub-workflows nest; a bound guards against a cycle
        if current is None:
            break
        try:
            found = runs.get_run(current).trigger
        except Exception:  # the store is down or the run unknown: fail closed, uncached
            return None
        trigger = found if isinstance(found, str) else None
        current = trigger[len(_CHILD) :] if trigger and trigger.startswith(_CHILD) else None
    if current is not None:
        return None
    with _triggers_lock:
        _triggers[run_id] = trigger
        while len(_triggers) > 4096:
            _triggers.popitem(last=False)
    return trigger


_triggers: OrderedDict[str, str | None] = OrderedDict()
_triggers_lock = threading.Lock()
