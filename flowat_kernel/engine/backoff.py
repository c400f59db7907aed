"""Jittered retry delays for steps ("full jitter" within the step's bounded policy).

Temporal's retry policies back off exponentially without jitter, so many runs that fail
together (a database restarting, a host rate-limiting everyone) retry together. A
failing step instead tells Temporal its next delay (``ApplicationError``'s
``next_retry_delay``): a uniformly random point in ``[0, bound]``, where ``bound`` is
the exponential delay the policy would have used,
``min(maximum_interval, initial_interval * backoff_coefficient ** (attempt - 1))``.
The number of attempts stays the policy's; only the spacing is randomised.
``FLOWAT_RETRY_JITTER=off`` turns jitter off: each retry then waits exactly ``bound``.
"""

from __future__ import annotations

import os
import random
from datetime import timedelta

from flowat_kernel.spec import RetryPolicy

__all__ = ["MINIMUM_DELAY_SECONDS", "backoff_bound", "jittered_delay", "next_retry_delay"]

MINIMUM_DELAY_SECONDS = 0.001
"""The shortest delay handed to Temporal (a zero delay would mean "use the policy's")."""

_random = random.Random()  # spacing retries is not a security decision


def backoff_bound(policy: RetryPolicy, attempt: int) -> float:
    """Seconds the policy's plain exponential backoff waits after failed ``attempt`` (1-based)."""
    if attempt < 1:
        raise ValueError(f"attempt must be 1 or more, not {attempt}")
    interval = policy.initial_interval_seconds
    maximum = max(policy.maximum_interval_seconds, interval)
    for _ in range(attempt - 1):  # stepwise, so a large attempt never overflows a float
        interval *= policy.backoff_coefficient
        if interval >= maximum:
            return maximum
    return min(interval, maximum)


def jittered_delay(policy: RetryPolicy, attempt: int, rng: random.Random | None = None) -> float:
    """A delay in ``[MINIMUM_DELAY_SECONDS, backoff_bound(policy, attempt)]`` (full jitter).

    ``rng`` is the random source (a seeded ``random.Random`` in tests); by default a
    process-wide one.
    """
    bound = backoff_bound(policy, attempt)
    if os.environ.get("FLOWAT_RETRY_JITTER", "on").strip().lower() in ("off", "0", "false"):
        return bound  # the policy's plain exponential backoff, as Temporal would wait
    delay = (rng or _random).uniform(0.0, bound)
    return min(bound, max(MINIMUM_DELAY_SECONDS, delay))


def next_retry_delay(
    policy: RetryPolicy, attempt: int, rng: random.Random | None = None
) -> timedelta:
    """``jittered_delay`` as the ``timedelta`` Temporal's ``ApplicationError`` takes."""
    return timedelta(seconds=jittered_delay(policy, attempt, rng))
