"""Endpoints: act on a run as the CLI and magics do: rerun, resume, signal, history.

Runs these start go to the shared task queue (``worker="shared"``, as runs started
over REST do), with a worker in the server process when none polls it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flowat_kernel.server import runs
from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, endpoint
from flowat_kernel.server.state import workspace

__all__ = ["ENDPOINTS"]

_WAIT = Field(
    default=0,
    ge=0,
    le=runs.MAX_WAIT_SECONDS,
    description="wait up to this many seconds for the new run to finish (200 if it did)",
)


class RerunBody(BaseModel):
    """Re-run from the steps that did not succeed, on the same, latest or a given version."""

    model_config = ConfigDict(extra="forbid")

    version: Literal["same", "latest"] | Annotated[int, Field(ge=1, le=10**9)] = Field(
        default="same", description="'same' (default), 'latest' or a version number"
    )
    wait_seconds: float = _WAIT


class CellBody(BaseModel):
    """A notebook cell: a ``%%flowat step`` cell, or the ``parameters`` cell (by its tag)."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(max_length=200_000)
    tags: list[str] = Field(default=[], max_length=20)


class ResumeBody(BaseModel):
    """Resume a failed run from its failed step on the latest version, after patching it."""

    model_config = ConfigDict(extra="forbid")

    cells: list[CellBody] | None = Field(
        default=None,
        max_length=500,
        description="step cells (and a parameters cell) to patch into the latest version "
        "and publish first; steps they do not name keep their code",
    )
    wait_seconds: float = _WAIT


class SignalBody(BaseModel):
    """A signal's payload, which the ``--wait-for`` step waiting for it receives."""

    model_config = ConfigDict(extra="forbid")

    payload: Any = Field(default=None, description="any JSON value")


@endpoint(
    "POST",
    "/runs/{run_id}/rerun",
    "runs:write",
    "Re-run a finished run from the steps that did not succeed (flowat rerun); the new run",
    body=RerunBody,
    status=202,
)
def rerun_run(call: Call) -> Reply:
    body = call.model(RerunBody)
    started = workspace(call.who).rerun(
        call.path["run_id"], version=body.version, wait=False, worker="shared"
    )
    return runs.waited_reply(call.who, started.run_id, body.wait_seconds)


@endpoint(
    "POST",
    "/runs/{run_id}/resume",
    "runs:write",
    "Resume a failed run from its failed step on the latest version, optionally patched "
    "with edited cells (%flowat resume); the new run",
    body=ResumeBody,
    status=202,
)
def resume_run(call: Call) -> Reply:
    from flowat_kernel.compiler import Cell

    body = call.model(ResumeBody)
    cells = (
        [Cell(c.source, n, tags=tuple(c.tags)) for n, c in enumerate(body.cells, 1)]
        if body.cells
        else None
    )
    started = workspace(call.who).resume(
        call.path["run_id"], cells=cells, wait=False, worker="shared"
    )
    return runs.waited_reply(call.who, started.run_id, body.wait_seconds)


@endpoint(
    "POST",
    "/runs/{run_id}/signals/{name}",
    "runs:write",
    "Send a signal with a JSON payload to a running run (flowat signal)",
    body=SignalBody,
    status=202,
)
def signal_run(call: Call) -> Reply:
    body = call.model(SignalBody)
    signalled = workspace(call.who).signal(call.path["run_id"], call.path["name"], body.payload)
    return 202, runs.run_document(signalled.record)


@endpoint(
    "GET",
    "/runs/{run_id}/history",
    "runs:read",
    "A run's Temporal history, payloads decrypted and secrets masked (flowat history)",
)
def run_history(call: Call) -> Reply:
    return 200, {"items": workspace(call.who).history(call.path["run_id"])}


ENDPOINTS: list[Endpoint] = [rerun_run, resume_run, signal_run, run_history]
