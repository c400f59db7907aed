"""The connector SDK: what a connector declares and how steps call its actions.

| module | job |
| --- | --- |
| ``connector`` | :class:`Connector` and :class:`Action`: id, metadata, auth schema, actions |
| ``errors`` | :class:`ActionError`: retryable or not, never carrying a secret |
| ``context`` | :class:`ActionContext`: idempotency key, secrets, target host of a call |
| ``registry`` | discovery through the ``flowat.connectors`` entry-point group |
| ``call`` | :func:`action`: validate, guard with the circuit breaker, call, validate |
| ``egress`` | the egress policy network connectors apply (``open``, ``public``, pinning) |
"""

from __future__ import annotations

from flowat_kernel.sdk.connector import Action, Connector
from flowat_kernel.sdk.context import ActionContext
from flowat_kernel.sdk.errors import ActionError

__all__ = ["Action", "ActionContext", "ActionError", "Connector"]
