"""Calling an action: validate the input, guard with the breaker, call, validate the output.

``flowat.action("http.request", url=..., auth=flowat.secret("api"))`` in a step's code,
or a step that is the action itself (``%%flowat step NAME --action http.request``).
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ValidationError

from flowat_kernel.errors import FlowAtError
from flowat_kernel.sdk.connector import Action
from flowat_kernel.sdk.context import ActionContext
from flowat_kernel.sdk.errors import ActionError
from flowat_kernel.sdk.rate_limits import wait_for_slot
from flowat_kernel.sdk.registry import get_action
from flowat_kernel.step_context import current_scope, idempotency_key, scope_services

__all__ = ["action", "describe_validation", "input_names", "validate_input"]


def input_names(model: type[Any]) -> list[str]:
    """The names an action step's body may set: each input field's name and its aliases."""
    names: list[str] = []
    for name, field in model.model_fields.items():
        names.append(name)
        aliases = [field.alias, field.validation_alias]
        for alias in aliases:
            if isinstance(alias, str):
                names.append(alias)
            elif alias is not None and hasattr(alias, "choices"):
                names.extend(c for c in alias.choices if isinstance(c, str))
    return list(dict.fromkeys(names))


def describe_validation(exc: ValidationError) -> str:
    """Pydantic's errors as one line per field, without the values (they may be secret)."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "input"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def validate_input(spec: Action, params: dict[str, Any]) -> BaseModel:
    """The action's input model from ``params``.

    Raises:
        ActionError: not retryable; one line per wrong field, without the values.

    """
    try:
        return spec.input.model_validate(params)
    except ValidationError as exc:
        raise ActionError(
            f"{spec.full_name}: invalid input: {describe_validation(exc)}", retryable=False
        ) from None


def _key(full_name: str) -> str:
    """Stable across retries: the step's key, the action, and the call's number in it."""
    scope = current_scope()
    if scope is None:
        return idempotency_key(full_name)
    scope.calls[full_name] = scope.calls.get(full_name, 0) + 1
    return idempotency_key(f"{full_name}#{scope.calls[full_name]}")


def action(name: str, /, **params: Any) -> BaseModel:
    """Call the action ``name`` (``connector.action``) with ``params``; return its output.

    Raises:
        NotFoundError: no such connector or action.
        ActionError: invalid input (not retryable), the breaker is open, or the call
            failed (retryable or not, as the connector says).

    """
    spec = get_action(name)
    data = validate_input(spec, params)
    try:
        host = (spec.target(data) if spec.target else None) or "*"
    except Exception as exc:
        raise ActionError(
            f"{name}: cannot tell which host the call goes to: {type(exc).__name__}: {exc}",
            retryable=False,
        ) from None
    services = scope_services()
    breakers = services.breakers
    breakers.before_call(spec.connector, host)
    limits = services.rate_limits
    # Over the organization's rate limit for this host: wait (never fail) for a slot.
    lease, waited = wait_for_slot(limits, spec.connector, host) if limits else ("", 0.0)
    context = ActionContext(
        connector=spec.connector,
        action=spec.name,
        idempotency_key=_key(name),
        step=current_scope(),
    )
    started = time.monotonic()
    outcome = "failed"
    try:
        result = spec.function(context, data)
        outcome = "succeeded"
    except ActionError as exc:
        if exc.retryable:
            breakers.failure(spec.connector, host)
        raise
    except FlowAtError as exc:  # a missing secret, bad configuration: not the host's fault
        raise ActionError(f"{name}: {exc}", retryable=False, host=host) from None
    except Exception as exc:
        # The connector let an unexpected error through: it says nothing certain about
        # the host's health, so the breaker does not count it.
        raise ActionError(
            f"{name} failed: {type(exc).__name__}: {exc}", retryable=spec.retry_safe, host=host
        ) from exc
    finally:
        if lease and limits is not None:
            limits.release(lease)
        if context.step is not None:
            context.step.actions.append(
                {
                    "action": name,
                    "host": host,
                    "outcome": outcome,
                    "seconds": time.monotonic() - started,
                    "usage": dict(context.usage),
                    **({"rate_limited_seconds": round(waited, 3)} if waited >= 0.001 else {}),
                }
            )
    breakers.success(spec.connector, host)
    try:
        return spec.output.model_validate(result)
    except ValidationError as exc:
        raise ActionError(
            f"{name}: the connector returned an invalid output: {describe_validation(exc)}",
            retryable=False,
        ) from None
