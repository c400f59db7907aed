"""Endpoint: check a notebook's cells compile, without publishing (per-cell problems)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, endpoint
from flowat_kernel.server.state import workspace

__all__ = ["ENDPOINTS"]


class CheckCell(BaseModel):
    """One notebook cell, in the notebook's order."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(max_length=200_000)
    cell_type: Literal["code", "markdown", "raw"] = "code"
    tags: list[str] = Field(default=[], max_length=20)


class CompileBody(BaseModel):
    """The cells to check, and the workflow name they would be published as."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=128, description="default: 'check'")
    cells: list[CheckCell] = Field(max_length=2000)


@endpoint(
    "POST",
    "/compile",
    "workflows:read",
    "Compile a notebook's cells without publishing: every problem with its cell and line",
    body=CompileBody,
)
def check_compile(call: Call) -> Reply:
    from flowat_kernel.compiler import Cell

    body = call.model(CompileBody)
    cells = [
        Cell(c.source, n, cell_type=c.cell_type, tags=tuple(c.tags))
        for n, c in enumerate(body.cells, 1)
    ]
    problems = workspace(call.who).check_cells(cells, body.name)
    return 200, {
        "ok": not problems,
        "problems": [
            {"code": d.code, "message": d.message, "step": d.step, "cell": d.cell, "line": d.line}
            for d in problems
        ],
    }


ENDPOINTS: list[Endpoint] = [check_compile]
