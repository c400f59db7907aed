"""Errors an action raises: whether retrying can help is part of the error.

::

    FlowAtError
    └── ConnectorError (flowat_kernel.errors)
        └── ActionError        an action failed; ``retryable`` says whether to try again
            └── CircuitOpen    the host's circuit breaker is open: the call was not made

Both are failures (``usage = False``): the remote system or the connection failed, and
the message says whether a later attempt, other input or other credentials can help.
"""

from __future__ import annotations

from flowat_kernel.errors import ConnectorError

__all__ = ["ActionError", "CircuitOpen"]


class ActionError(ConnectorError):
    """An action failed.

    Args:
        message: what went wrong and what to fix; it must never hold a secret value
            (revealed values are masked anyway, as everywhere).
        retryable: whether a later attempt may succeed (a 5xx, a timeout, a refused
            connection) or not (bad input, a 4xx, a rejected login).
        host: the target host, for the circuit breaker and analytics.

    """

    def __init__(self, message: str, *, retryable: bool, host: str | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.host = host


class CircuitOpen(ActionError):
    """The circuit breaker for a connector and host is open: the call was not made."""

    def __init__(self, message: str, *, host: str | None, until: float) -> None:
        super().__init__(message, retryable=True, host=host)
        self.until = until
