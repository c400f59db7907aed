"""JSON errors of the REST API: ``{"error": {"code", "message"}}`` with the right status.

Every exception is mapped here, in one place; anything unexpected is a 500 whose
message says nothing about internals (the details go to the server log).
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from flowat_kernel.access.errors import Conflict, Forbidden, Unauthenticated
from flowat_kernel.errors import (
    CompileError,
    FlowAtError,
    NotFoundError,
    ParameterError,
    SpecError,
    StoreError,
    TemporalUnavailable,
    is_usage,
)

__all__ = ["ApiError", "error_reply"]

log = logging.getLogger(__name__)


class ApiError(FlowAtError):
    """An error with an explicit HTTP status and code (bad JSON, too large, ...).

    The message says what to change in the request. ``usage`` is true for a 4xx status
    (the request is wrong) and false for a 5xx one (the server failed).
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.usage = status < 500

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.status, self.code, self.message))


_MAPPING: list[tuple[type[BaseException], int, str]] = [
    (Unauthenticated, 401, "unauthenticated"),
    (Forbidden, 403, "forbidden"),
    (NotFoundError, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (ParameterError, 422, "invalid_parameters"),
    (CompileError, 422, "compile_error"),
    (SpecError, 422, "invalid_spec"),
    (TemporalUnavailable, 503, "temporal_unavailable"),
    (StoreError, 503, "store_unavailable"),
    (FlowAtError, 422, "invalid"),
]


def _validation_message(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ())) or "body"
        problems.append(f"{where}: {error.get('msg')}")
    return "; ".join(problems)


def error_reply(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """The status and JSON body for ``exc``."""
    if isinstance(exc, ApiError):
        status, code, message = exc.status, exc.code, exc.message
    elif isinstance(exc, ValidationError):
        status, code, message = 422, "invalid", _validation_message(exc)
    elif type(exc).__name__ == "RPCError" and type(exc).__module__.startswith("temporalio"):
        status, code, message = 503, "temporal_unavailable", f"Temporal failed: {exc}"
    else:
        found = next((m for m in _MAPPING if isinstance(exc, m[0])), None)
        if found is not None and found[0] is FlowAtError and not is_usage(exc):
            # A failure (a vault key problem, a run's own failure), not bad input: a 500
            # with FlowAt's message, which never holds a secret; the traceback is logged.
            log.error("FlowAt failure in the API: %s", exc, exc_info=exc)
            status, code, message = 500, "failed", str(exc)
        elif found is not None:
            status, code, message = found[1], found[2], str(exc)
        else:
            log.exception("unexpected error in the FlowAt API", exc_info=exc)
            status, code = 500, "internal"
            message = "the server failed; the details are in its log"
    return status, {"error": {"code": code, "message": message}}
