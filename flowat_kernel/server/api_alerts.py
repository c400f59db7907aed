"""Endpoints: alerts (list, add, remove), read like workflows and changed like them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, Query, endpoint
from flowat_kernel.server.state import workspace

__all__ = ["ENDPOINTS"]


class AlertBody(BaseModel):
    """A new alert: when, what to do, and the message template."""

    model_config = ConfigDict(extra="forbid")

    workflow: str | None = Field(
        default=None, max_length=128, description="the workflow; null: the organization default"
    )
    on: Literal["failure", "success", "timeout", "approval"]
    kind: Literal["webhook", "chat", "email", "workflow"]
    target: str = Field(min_length=1, max_length=2048, description="URL, address or workflow")
    message: str | None = Field(default=None, max_length=4000, description="{expression} template")


@endpoint(
    "GET",
    "/alerts",
    "workflows:read",
    "List alerts (of one workflow: its own and the organization's defaults)",
    query=(Query("workflow", description="only this workflow's alerts and the defaults"),),
)
def list_alerts(call: Call) -> Reply:
    workflow = call.text("workflow")
    alerts = workspace(call.who).alerts(workflow)
    return 200, {
        "items": [a.as_dict() for a in alerts if a.workflow is None or call.who.sees(a.workflow)]
    }


@endpoint("POST", "/alerts", "workflows:write", "Add an alert", body=AlertBody, status=201)
def add_alert(call: Call) -> Reply:
    body = call.model(AlertBody)
    created = workspace(call.who).add_alert(
        body.workflow, on=body.on, kind=body.kind, target=body.target, message=body.message
    )
    return 201, created.as_dict()


@endpoint("DELETE", "/alerts/{alert_id}", "workflows:write", "Remove an alert")
def remove_alert(call: Call) -> Reply:
    removed = workspace(call.who).remove_alert(call.path["alert_id"])
    return 200, {"removed": removed.id}


ENDPOINTS: list[Endpoint] = [list_alerts, add_alert, remove_alert]
