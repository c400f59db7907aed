"""Endpoints: set, replace and delete a secret, its history and usage; rotate the master key.

A value goes in and never comes out: the reply to setting a secret is its metadata,
the value is not logged, audited or echoed in an error (a refused body's message
names the field, never its content).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, endpoint
from flowat_kernel.server.state import workspace

__all__ = ["ENDPOINTS"]


class SecretBody(BaseModel):
    """A secret's new value (write-only)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    value: str = Field(min_length=1, max_length=65536, description="write-only; never returned")


@endpoint(
    "PUT",
    "/secrets/{name}",
    "secrets:write",
    "Set or replace a secret's value; the reply is its metadata, never the value",
    body=SecretBody,
)
def set_secret(call: Call) -> Reply:
    body = call.model(SecretBody)
    return 200, workspace(call.who).set_secret(call.path["name"], body.value).as_dict()


@endpoint("DELETE", "/secrets/{name}", "secrets:write", "Delete a secret (its history stays)")
def delete_secret(call: Call) -> Reply:
    name = call.path["name"]
    workspace(call.who).delete_secret(name)
    return 200, {"deleted": name}


@endpoint(
    "GET",
    "/secrets/{name}/history",
    "secrets:read",
    "When a secret was set, replaced and deleted, and by whom (never values)",
)
def secret_history(call: Call) -> Reply:
    return 200, {"items": workspace(call.who).secret_history(call.path["name"])}


@endpoint(
    "GET",
    "/secrets/{name}/usage",
    "secrets:read",
    "Which workflows used a secret, and which steps of their latest versions name it",
)
def secret_usage(call: Call) -> Reply:
    return 200, workspace(call.who).secret_usage(call.path["name"])


@endpoint(
    "POST",
    "/vault/rotate",
    "organization:write",
    "Rotate the master key (an Owner acting directly, never through an API key or its "
    "sessions); the reply says how many data keys were re-wrapped",
)
def rotate_master_key(call: Call) -> Reply:
    return 200, workspace(call.who).rotate_master_key().as_dict()


ENDPOINTS: list[Endpoint] = [
    set_secret,
    delete_secret,
    secret_history,
    secret_usage,
    rotate_master_key,
]
