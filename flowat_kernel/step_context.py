"""What a running step knows about itself: run, step, attempt, owner, and its services.

The activity that executes a step sets the context; step code reads it through
:func:`current_step` and :func:`idempotency_key` (``flowat.current_step()``,
``flowat.idempotency_key()``). In the kernel, while a step is being developed, there is
no run: :func:`current_step` returns ``None`` and keys are fresh each call.

Code inside a step reaches the vault, the circuit breakers and the files folder only
through :func:`scope_services`: the scope's own :class:`StepServices`, bound to the
run's organization by the worker. Outside a run (a notebook trying a cell), the
composition root installs a provider of the local user's services with
:func:`provide_services`; nothing here looks services up by itself.
"""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "Breakers",
    "HostLimits",
    "SecretSource",
    "StepScope",
    "StepServices",
    "current_scope",
    "current_step",
    "idempotency_key",
    "process_services",
    "provide_services",
    "scope_services",
    "step_scope",
]


class SecretSource(Protocol):
    """The secrets of one organization, decrypted on demand."""

    def reveal(self, name: str) -> str:
        """The value of the organization's secret ``name``."""
        ...

    def record_usage(self, names: Iterable[str]) -> None:
        """Note that ``names`` were revealed outside a run."""
        ...


class Breakers(Protocol):
    """The connectors' circuit breakers."""

    def before_call(self, connector: str, host: str) -> None:
        """Refuse the call when the breaker of ``connector`` and ``host`` is open."""
        ...

    def success(self, connector: str, host: str) -> None:
        """Record a successful call."""
        ...

    def failure(self, connector: str, host: str) -> None:
        """Record a failed call."""
        ...


class HostLimits(Protocol):
    """The organization's rate limits per connector host (see ``sdk/rate_limits.py``)."""

    def try_acquire(self, connector: str, host: str) -> tuple[str | None, float]:
        """Admit a call: ``(lease, 0)``, ``("", 0)`` with no limit, or ``(None, wait)``."""
        ...

    def release(self, lease: str) -> None:
        """An admitted call ended."""
        ...


@dataclass(frozen=True)
class StepServices:
    """What step code may use, bound to one organization.

    Attributes:
        owner: the organization these services act for.
        secrets: that organization's secrets (and nobody else's).
        breakers: the circuit breakers connectors consult.
        files_dir: the folder of the ``files`` connector's ``artifacts`` store.
        rate_limits: the organization's host rate limits (``None``: none apply).

    """

    owner: str | None
    secrets: SecretSource
    breakers: Breakers
    files_dir: Path
    rate_limits: HostLimits | None = None


@dataclass
class StepScope:
    """Who is running the current step, which attempt this is, and what it revealed."""

    owner: str | None = None
    workflow: str | None = None
    run_id: str | None = None
    step: str | None = None
    attempt: int = 1
    revealed: set[str] = field(default_factory=set)
    calls: dict[str, int] = field(default_factory=dict)
    #: One entry per action call: action, host, outcome, seconds and the usage the
    #: connector recorded (tokens, cost), for analytics.
    actions: list[dict[str, Any]] = field(default_factory=list)
    #: What started the run (``rest``, ``webhook``, ``schedule``, ``cli``, ...), read by
    #: the worker from the run's record (its root run's, for a sub-workflow); ``None``
    #: when unknown. The egress policy of network connectors depends on it.
    trigger: str | None = None
    #: The egress policy the run's organization chose (``auto``, ``open``, ``public``),
    #: or ``None`` to follow the installation's ``FLOWAT_EGRESS`` (set by the worker).
    organization_egress: str | None = None
    #: The services step code may use, bound to ``owner`` (set by the worker).
    services: StepServices | None = field(default=None, repr=False, compare=False)
    #: The prompt templates of the run's version, by name (set by the worker); ``None``
    #: outside a run. ``prompt_name`` of ``llm.chat``/``llm.agent`` reads them.
    prompts: Mapping[str, str] | None = field(default=None, repr=False, compare=False)


_scope: contextvars.ContextVar[StepScope | None] = contextvars.ContextVar(
    "flowat_step_scope", default=None
)


def current_scope() -> StepScope | None:
    """The scope of the step running in this context, if any."""
    return _scope.get()


_provider: Callable[[], StepServices] | None = None
_process: Callable[[], Any] | None = None


def provide_services(
    provider: Callable[[], StepServices] | None, process: Callable[[], Any] | None = None
) -> None:
    """Install the providers the package hands down when it is imported.

    Args:
        provider: what :func:`scope_services` returns outside a run.
        process: the process's composition root, for :func:`process_services`.

    """
    global _provider, _process
    _provider = provider
    _process = process


def process_services() -> Any:
    """The process's services as the package installed them (for convenience defaults).

    Raises:
        ConfigError: nothing was installed (``flowat_kernel`` was not imported).

    """
    if _process is None:
        from flowat_kernel.errors import ConfigError

        raise ConfigError("FlowAt's services are not set up: import flowat_kernel first")
    return _process()


def scope_services() -> StepServices:
    """The services of the running step, or outside a run the local user's.

    Raises:
        ConfigError: neither a step scope with services nor a provider is set (code
            that uses secrets or connectors outside FlowAt's kernel, worker or API).

    """
    scope = _scope.get()
    if scope is not None and scope.services is not None:
        return scope.services
    if _provider is None:
        from flowat_kernel.errors import ConfigError

        raise ConfigError(
            "FlowAt's services are not set up in this process: use secrets and actions "
            "inside a step, a notebook with %load_ext flowat_kernel, or after "
            "import flowat_kernel"
        )
    return _provider()


def current_step() -> StepScope | None:
    """The running step (``run_id``, ``step``, ``attempt``, ``workflow``), or ``None``."""
    return _scope.get()


@contextlib.contextmanager
def step_scope(scope: StepScope) -> Iterator[StepScope]:
    """Make ``scope`` current for the code run inside the block."""
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def idempotency_key(purpose: str = "") -> str:
    """A key that is the same on every attempt of this step in this run.

    Pass it to outside systems that deduplicate (an ``Idempotency-Key`` header, a
    unique column), so that a step retried after a crash has its effect once. Use
    ``purpose`` to tell apart several effects of one step.
    """
    scope = _scope.get()
    suffix = f":{purpose}" if purpose else ""
    if scope is None or scope.run_id is None:
        return f"flowat:dev:{uuid.uuid4().hex}{suffix}"
    return f"flowat:{scope.run_id}:{scope.step}{suffix}"
