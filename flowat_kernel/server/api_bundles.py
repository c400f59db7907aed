"""Endpoints: a workflow version as a ``.flowat`` bundle, and importing one.

``GET /workflows/{workflow}/export`` needs what reading a workflow needs;
``POST /workflows/import`` what publishing needs. The import's body is the bundle file
itself, checked (size, nesting, format version, unknown fields, hashes) before anything
else; the server writes no notebook (the caller has it in the bundle).
"""

from __future__ import annotations

import json

from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, Query, endpoint
from flowat_kernel.server.errors import ApiError
from flowat_kernel.server.state import workspace

__all__ = ["ENDPOINTS"]


@endpoint(
    "GET",
    "/workflows/{workflow}/export",
    "workflows:read",
    "A workflow version as a .flowat bundle (notebook, spec and hash, parameters, the "
    "connectors, packages and secret names it needs; never a secret's value)",
    query=(
        Query("version", "integer", "version number (default: the latest)", minimum=1),
        Query("description", description="a description to carry in the bundle"),
    ),
    tag="workflows",
)
def export_workflow(call: Call) -> Reply:
    from flowat_kernel.bundles import export_bundle

    version = call.integer("version", 0, 1, 10**9) if "version" in call.query else None
    bundle = export_bundle(
        workspace(call.who),
        call.path["workflow"],
        version=version,
        description=call.text("description", "", max_length=4000) or "",
    )
    return 200, json.loads(bundle.model_dump_json())


@endpoint(
    "POST",
    "/workflows/import",
    "workflows:write",
    "Import a .flowat bundle (the file as the body): check its hashes and what it needs "
    "(connectors, packages, secrets: all missing ones listed in one 422), then publish it",
    query=(Query("name", description="publish under this workflow name"),),
    raw_body=True,
    status=201,
    tag="workflows",
)
def import_workflow(call: Call) -> Reply:
    from flowat_kernel.bundles import import_bundle, parse_bundle

    if not call.body.strip():
        raise ApiError(422, "invalid", "send the .flowat bundle file as the request body")
    bundle = parse_bundle(call.body, where="the uploaded bundle")
    imported = import_bundle(
        workspace(call.who), bundle, name=call.text("name", max_length=128), write=False
    )
    return (201 if imported.published.created else 200), imported.document()


ENDPOINTS: list[Endpoint] = [export_workflow, import_workflow]
