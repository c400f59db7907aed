"""What an action's function receives besides its input."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flowat_kernel.step_context import StepScope

__all__ = ["ActionContext"]


@dataclass
class ActionContext:
    """The context of one action call.

    Attributes:
        connector: the connector's id.
        action: the action's name.
        idempotency_key: the same on every attempt of this step in this run (and for
            this action within the step); send it to systems that deduplicate.
        step: the running step, or ``None`` in the kernel while developing.
        log: a logger for the action (its records are masked like all others).
        usage: what the call cost, for analytics (``tokens_in``, ``cost_usd``, ...).

    """

    connector: str
    action: str
    idempotency_key: str
    step: StepScope | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("flowat.action"))
    usage: dict[str, Any] = field(default_factory=dict)

    def reveal(self, handle: Any) -> str:
        """The value of a secret handle (or a plain string passed as is)."""
        from flowat_kernel.vault.handles import SecretHandle

        if isinstance(handle, SecretHandle):
            return handle.reveal()
        if isinstance(handle, str):
            return handle
        raise TypeError(f"expected flowat.secret(...) or a string, not {type(handle).__name__}")
