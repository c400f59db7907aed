"""The OpenAPI 3.1 document, generated from the endpoint table."""

from __future__ import annotations

from typing import Any

from flowat_kernel.server.endpoints import PREFIX, Endpoint

__all__ = ["openapi"]

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
_ERRORS = {
    "400": "malformed request",
    "401": "no valid credentials",
    "403": "the role, scopes or key's workflows do not allow it",
    "404": "no such object in this organization",
    "405": "method not allowed",
    "409": "conflict",
    "413": "request body too large",
    "415": "unsupported media type",
    "422": "the request is well-formed but invalid",
    "503": "Temporal or the store is unavailable",
}


def _operation(item: Endpoint) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in item.path_params
    ]
    for query in item.query:
        schema: dict[str, Any] = {"type": query.type}
        if query.minimum is not None:
            schema["minimum"] = query.minimum
        if query.maximum is not None:
            schema["maximum"] = query.maximum
        parameters.append(
            {
                "name": query.name,
                "in": "query",
                "required": False,
                "description": query.description,
                "schema": schema,
            }
        )
    responses: dict[str, Any] = {
        str(item.status): {
            "description": "success",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    }
    if item.status != 200:
        responses["200"] = responses[str(item.status)]
    for code, text in _ERRORS.items():
        responses[code] = {
            "description": text,
            "content": {"application/json": {"schema": _ERROR}},
        }
    operation: dict[str, Any] = {
        "operationId": item.operation_id,
        "summary": item.summary,
        "tags": [item.tag],
        "parameters": parameters,
        "responses": responses,
        "x-flowat-permission": item.auth,
    }
    if item.auth == "public":
        operation["security"] = []
    if item.body is not None:
        content: dict[str, Any] = {"application/json": {"schema": item.body.model_json_schema()}}
        if item.path == "/workflows":
            content["multipart/form-data"] = {
                "schema": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "notebook": {"type": "string", "format": "binary"},
                    },
                }
            }
        operation["requestBody"] = {"required": False, "content": content}
    elif item.raw_body:
        operation["requestBody"] = {
            "required": False,
            "content": {
                "application/json": {"schema": {}},
                "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    return operation


def openapi(endpoints: list[Endpoint]) -> dict[str, Any]:
    """The OpenAPI document of ``endpoints``."""
    from flowat_kernel.access.roles import MATRIX

    paths: dict[str, dict[str, Any]] = {}
    for item in endpoints:
        paths.setdefault(PREFIX + item.path, {})[item.method.lower()] = _operation(item)
    matrix = {p: sorted(r.value for r in roles) for p, roles in MATRIX.items()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "FlowAt REST API",
            "version": "1",
            "description": (
                "Workflows, runs, schedules, webhooks, keys, members and the audit log of one "
                "organization. Authenticate with `Authorization: Bearer flowat_...` (an API "
                "key) or a session token from POST /api/v1/sessions. Errors are "
                '`{"error": {"code", "message"}}`.'
            ),
            "x-flowat-permission-matrix": matrix,
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
