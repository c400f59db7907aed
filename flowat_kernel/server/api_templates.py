"""Endpoints: the template gallery (flowat templates list, show, use).

Listing and showing read the gallery of the server's installation (its built-in
templates and ``FLOWAT_TEMPLATE_PATHS``); using one publishes it as a workflow of the
caller's organization through the workspace, as ``flowat templates use`` does, and
returns its notebook instead of writing a file on the server. Server file paths are
not shown.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, Query, endpoint
from flowat_kernel.server.state import workspace

__all__ = ["ENDPOINTS"]


class UseBody(BaseModel):
    """The workflow to publish the template as."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128, description="the new workflow's name")


@endpoint(
    "GET",
    "/templates",
    "workflows:read",
    "The template gallery, by name (flowat templates list)",
    query=(Query("tag", description="only templates with this tag"),),
    tag="workflows",
)
def list_templates(call: Call) -> Reply:
    from flowat_kernel.bundles import gallery

    found = gallery().list(call.text("tag"))
    return 200, {"items": [template.row() for template in found]}


@endpoint(
    "GET",
    "/templates/{template}",
    "workflows:read",
    "One template: description, parameters, steps and what it needs (flowat templates show)",
    tag="workflows",
)
def show_template(call: Call) -> Reply:
    from flowat_kernel.bundles import gallery

    details: dict[str, Any] = gallery().get(call.path["template"]).details()
    details.pop("path", None)
    return 200, details


@endpoint(
    "POST",
    "/templates/{template}/use",
    "workflows:write",
    "Publish a template as a workflow of this organization; its notebook comes back "
    "(flowat templates use)",
    body=UseBody,
    status=201,
    tag="workflows",
)
def use_template(call: Call) -> Reply:
    from flowat_kernel.bundles import gallery, import_bundle

    body = call.model(UseBody)
    chosen = gallery().get(call.path["template"])
    imported = import_bundle(
        workspace(call.who), chosen.bundle, name=body.name, write=False, require_secrets=False
    )
    reply = {**imported.document(), "notebook_document": chosen.bundle.notebook}
    return (201 if imported.published.created else 200), reply


ENDPOINTS: list[Endpoint] = [list_templates, show_template, use_template]
