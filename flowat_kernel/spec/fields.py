"""What the spec's models are built from: their frozen base, name patterns, queue names.

``_Model`` is the frozen base that refuses unknown fields; ``_Name`` (steps, workflows,
secrets) and ``_Identifier`` (values, inputs) are the name patterns; ``_Queue`` is a task
queue's name (:data:`QUEUE_PATTERN`), which :func:`queue_name` checks wherever one is
given.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from flowat_kernel.errors import SpecError

__all__ = ["QUEUE_PATTERN", "queue_name"]


_Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")]
_Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
#: A task queue's name: letters, digits, ``_``, ``-`` and ``.``, at most 200 characters.
QUEUE_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$"
_Queue = Annotated[str, Field(pattern=QUEUE_PATTERN)]


def queue_name(value: object, where: str = "--queue") -> str:
    """``value`` as a task queue name (what ``--queue`` takes).

    Raises:
        SpecError: it is not one; the message names ``where`` it came from.

    """
    if isinstance(value, str) and re.fullmatch(QUEUE_PATTERN, value):
        return value
    raise SpecError(
        f"{where} {value!r}: name a task queue with letters, digits, '_', '-' and '.' "
        "(at most 200 characters, not starting with '.' or '-'), e.g. gpu or eu-west"
    )


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
