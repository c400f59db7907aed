"""The workflow-wide options: what a failed step does, and the steps' default task queue.

:data:`OnFailure` (``stop`` or ``continue``) is checked by :func:`on_failure_choice`; a
notebook sets both options in its metadata (``metadata.flowat.on_failure`` and
``metadata.flowat.queue``), which :func:`metadata_on_failure` and :func:`metadata_queue`
read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from flowat_kernel.errors import SpecError
from flowat_kernel.spec.fields import queue_name

__all__ = [
    "ON_FAILURE_CHOICES",
    "OnFailure",
    "metadata_on_failure",
    "metadata_queue",
    "on_failure_choice",
]


#: What a run does when a step fails for good: ``stop`` starts no further step (steps
#: not started stay pending, as cells after a failing one in a notebook); ``continue``
#: keeps starting every step that does not depend on a failed one. Either way the run
#: ends failed with the first failure.
OnFailure = Literal["stop", "continue"]
ON_FAILURE_CHOICES: tuple[str, ...] = ("stop", "continue")


def on_failure_choice(value: object, where: str = "on_failure") -> OnFailure:
    """``value`` as an :data:`OnFailure` setting.

    Raises:
        SpecError: it is not one; the message names ``where`` it came from.

    """
    if value == "stop":
        return "stop"
    if value == "continue":
        return "continue"
    raise SpecError(
        f"{where} must be 'stop' (a failed step stops the run) or 'continue' (steps that do "
        f"not depend on the failed one still run), not {value!r}"
    )


def metadata_on_failure(metadata: Mapping[str, Any] | None) -> OnFailure | None:
    """A notebook's ``metadata.flowat.on_failure``, or ``None`` when it sets none.

    Raises:
        SpecError: it is set to something else than ``stop`` or ``continue``.

    """
    flowat = (metadata or {}).get("flowat")
    if not isinstance(flowat, Mapping) or flowat.get("on_failure") is None:
        return None
    return on_failure_choice(flowat["on_failure"], "the notebook's metadata.flowat.on_failure")


def metadata_queue(metadata: Mapping[str, Any] | None) -> str | None:
    """A notebook's ``metadata.flowat.queue`` (its steps' default task queue), or ``None``.

    Raises:
        SpecError: it is set to something that is not a task queue name.

    """
    flowat = (metadata or {}).get("flowat")
    if not isinstance(flowat, Mapping) or flowat.get("queue") is None:
        return None
    return queue_name(flowat["queue"], "the notebook's metadata.flowat.queue")
