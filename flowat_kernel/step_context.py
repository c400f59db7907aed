"""What a running step knows about itself: run, step, attempt and owner.

The activity that executes a step sets the context; step code reads it through
:func:`current_step` and :func:`idempotency_key` (``flowat.current_step()``,
``flowat.idempotency_key()``). In the kernel, while a step is being developed, there is
no run: :func:`current_step` returns ``None`` and keys are fresh each call.
"""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["StepScope", "current_scope", "current_step", "idempotency_key", "step_scope"]


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


_scope: contextvars.ContextVar[StepScope | None] = contextvars.ContextVar(
    "flowat_step_scope", default=None
)


def current_scope() -> StepScope | None:
    """The scope of the step running in this context, if any."""
    return _scope.get()


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
