"""Identifier types, so that a workflow name is never passed where a step name belongs."""

from __future__ import annotations

import re
import uuid
from typing import NewType

__all__ = ["RunId", "StepName", "VersionNumber", "WorkflowName", "new_run_id", "valid_name"]

WorkflowName = NewType("WorkflowName", str)
StepName = NewType("StepName", str)
RunId = NewType("RunId", str)
VersionNumber = NewType("VersionNumber", int)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")


def valid_name(name: str) -> bool:
    """Return whether ``name`` is usable as a workflow or step name.

    Names start with a letter or underscore and continue with letters, digits, ``_``,
    ``-`` or ``.``; at most 128 characters.
    """
    return bool(_NAME.match(name))


def new_run_id() -> RunId:
    """Return a fresh, unguessable run id."""
    return RunId(uuid.uuid4().hex)
