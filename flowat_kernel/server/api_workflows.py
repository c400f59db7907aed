"""Endpoints: workflows and their versions (list, get, publish from a spec or notebook)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from flowat_kernel.compiler import compile_cells
from flowat_kernel.compiler.cells import cells_from_notebook
from flowat_kernel.errors import FlowAtError
from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, endpoint
from flowat_kernel.server.errors import ApiError
from flowat_kernel.server.state import workspace
from flowat_kernel.spec import WorkflowSpec
from flowat_kernel.store import VersionRecord

__all__ = ["ENDPOINTS", "version_document"]


def version_document(version: VersionRecord, spec: bool = False) -> dict[str, Any]:
    """A version as JSON (with its full spec when asked)."""
    document: dict[str, Any] = {
        "workflow": version.workflow,
        "version": version.number,
        "spec_hash": version.spec_hash,
        "created_at": version.created_at.isoformat(),
        "created_by": version.created_by,
        "steps": [s.name for s in version.spec.steps],
        "inputs": [i.model_dump(mode="json") for i in version.spec.inputs],
    }
    if spec:
        document["spec"] = version.spec.model_dump(mode="json")
    return document


class PublishBody(BaseModel):
    """Publish a spec (``spec``), or a notebook document (``notebook`` with ``name``)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    spec: dict[str, Any] | None = None
    notebook: dict[str, Any] | None = None


def _version_number(call: Call) -> int:
    raw = call.path["version"]
    if not raw.isdigit() or len(raw) > 9:
        raise ApiError(400, "bad_path", "a version is a positive whole number")
    return int(raw)


@endpoint("GET", "/workflows", "workflows:read", "List the organization's workflows")
def list_workflows(call: Call) -> Reply:
    latest = workspace(call.who).workflows()
    return 200, {"items": [{"name": v.workflow, "latest_version": v.number} for v in latest]}


def _compile_notebook(name: str, notebook: Any) -> WorkflowSpec:
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise FlowAtError("notebook must be a notebook document with a list of cells")
    for cell in notebook["cells"]:
        if not isinstance(cell, dict):
            raise FlowAtError("every cell of the notebook must be an object")
        source = cell.get("source", "")
        if not isinstance(source, str) and not (
            isinstance(source, list) and all(isinstance(s, str) for s in source)
        ):
            raise FlowAtError("a cell's source must be text or a list of lines")
        if not isinstance(cell.get("metadata") or {}, dict):
            raise FlowAtError("a cell's metadata must be an object")
        tags = (cell.get("metadata") or {}).get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise FlowAtError("a cell's tags must be a list of text")
        if not isinstance(cell.get("cell_type", "code"), str):
            raise FlowAtError("a cell's cell_type must be text")
        if cell.get("id") is not None and not isinstance(cell.get("id"), str):
            raise FlowAtError("a cell's id must be text")
    return compile_cells(cells_from_notebook(notebook), name)


@endpoint(
    "POST",
    "/workflows",
    "workflows:write",
    "Publish a version from a spec, a notebook document, or an uploaded .ipynb "
    "(multipart: fields name and notebook)",
    body=PublishBody,
    status=201,
)
def publish(call: Call) -> Reply:
    if call.content_type == "multipart/form-data":
        name = call.fields.get("name", b"").decode("utf-8", "replace")
        raw = call.fields.get("notebook")
        if raw is None:
            raise ApiError(422, "invalid", "upload the notebook in a field named notebook")
        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(422, "invalid", "the uploaded notebook is not JSON") from None
        body = PublishBody(name=name, notebook=document if isinstance(document, dict) else None)
        if body.notebook is None:
            raise ApiError(422, "invalid", "the uploaded notebook is not a notebook document")
    else:
        body = call.model(PublishBody)
    if (body.spec is None) == (body.notebook is None):
        raise ApiError(422, "invalid", "give exactly one of spec or notebook")
    if body.spec is not None:
        spec = WorkflowSpec.model_validate(body.spec)
        if body.name is not None and body.name != spec.name:
            raise ApiError(422, "invalid", f"the spec is for {spec.name!r}, not {body.name!r}")
    else:
        if not body.name:
            raise ApiError(422, "invalid", "a notebook needs a workflow name (name)")
        spec = _compile_notebook(body.name, body.notebook)
    published = workspace(call.who).publish(spec.name, spec=spec)
    document = {**version_document(published.version), "created": published.created}
    return (201 if published.created else 200), document


@endpoint("GET", "/workflows/{workflow}", "workflows:read", "A workflow and its latest version")
def get_workflow(call: Call) -> Reply:
    name = call.path["workflow"]
    latest = workspace(call.who).version(name)
    return 200, {"name": name, "latest": version_document(latest, spec=True)}


@endpoint("GET", "/workflows/{workflow}/versions", "workflows:read", "A workflow's versions")
def list_versions(call: Call) -> Reply:
    name = call.path["workflow"]
    versions = workspace(call.who).versions(name)
    return 200, {"items": [version_document(v) for v in versions]}


@endpoint(
    "GET", "/workflows/{workflow}/versions/{version}", "workflows:read", "One version, with spec"
)
def get_version(call: Call) -> Reply:
    name = call.path["workflow"]
    version = workspace(call.who).version(name, _version_number(call))
    return 200, version_document(version, spec=True)


ENDPOINTS: list[Endpoint] = [list_workflows, publish, get_workflow, list_versions, get_version]
