"""Run and step records the store returns (detached from SQLAlchemy sessions).

Kept apart from :mod:`~flowat_kernel.store.records` (which holds the published spec's
record) so that listing runs does not import the workflow spec model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["FINISHED", "RunRecord", "RunStatus", "StepRecord", "StepStatus"]

RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "timed_out", "skipped"]
StepStatus = Literal[
    "pending", "running", "retrying", "succeeded", "failed", "skipped", "cancelled", "waiting"
]
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "timed_out", "skipped"})


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class StepRecord(_Record):
    """One step of a run."""

    name: str
    status: StepStatus
    attempts: int
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    logs: str | None = None
    #: What the step showed, as notebook output dicts (stream, display_data, ...).
    display: list[dict[str, Any]] | None = None

    @property
    def reused(self) -> bool:
        """Whether a re-run or resume took this step's outputs from the earlier run."""
        return self.status == "succeeded" and self.attempts == 0

    @property
    def duration_seconds(self) -> float | None:
        """Wall time of the step, across attempts."""
        if self.started_at and self.ended_at:
            return (self.ended_at - self.started_at).total_seconds()
        return None


class RunRecord(_Record):
    """One run of a workflow version, with its steps in spec order."""

    run_id: str
    workflow: str
    version: int
    owner: str
    status: RunStatus
    trigger: str
    parameters: dict[str, Any]
    error: dict[str, Any] | None = None
    temporal_workflow_id: str
    #: The task queue the run was started on (``None`` for runs recorded before).
    task_queue: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    steps: tuple[StepRecord, ...] = ()

    @property
    def executed_by(self) -> str:
        """Where the run executes: its starting process, or the shared workers."""
        queue = self.task_queue
        if not queue:
            return ""
        _, marker, local = queue.partition(".local.")
        if not marker:
            return f"shared workers ({queue})"
        host, _, rest = local.partition(".")
        pid = rest.partition(".")[0]
        return f"the process that started it (pid {pid} on {host})"

    @property
    def finished(self) -> bool:
        """Whether the run reached a final status."""
        return self.status in FINISHED

    @property
    def duration_seconds(self) -> float | None:
        """Wall time of the run."""
        if self.started_at and self.ended_at:
            return (self.ended_at - self.started_at).total_seconds()
        return None
