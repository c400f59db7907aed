"""Plain records the store returns (detached from SQLAlchemy sessions).

Run and step records live in :mod:`~flowat_kernel.store.run_models`; they are
re-exported here.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from flowat_kernel.spec import WorkflowSpec
from flowat_kernel.store.run_models import (
    FINISHED,
    RunRecord,
    RunStatus,
    StepRecord,
    StepStatus,
)

__all__ = ["FINISHED", "RunRecord", "RunStatus", "StepRecord", "StepStatus", "VersionRecord"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class VersionRecord(_Record):
    """One published version of a workflow."""

    workflow: str
    owner: str
    number: int
    spec_hash: str
    created_at: datetime
    created_by: str
    spec: WorkflowSpec
    id: int
