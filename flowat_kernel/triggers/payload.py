"""Turning a webhook request body into run parameters: plain data, whatever its type.

- JSON: an object whose fields are all inputs sets those inputs; any other JSON value
  (or object) becomes the ``payload`` parameter when the workflow has such an input,
  so a third party's whole event can arrive in one parameter.
- ``application/x-www-form-urlencoded`` and ``multipart/form-data``: each field is a
  parameter. An uploaded file's *content* (UTF-8 text) is the value; its file name is
  ignored, so nothing in a request can name a path or an option.
- Anything else (``text/plain``, no type): the body as text is the ``payload`` parameter.

Values are never interpreted beyond the workflow's declared input types.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from flowat_kernel.errors import ParameterError

__all__ = ["PAYLOAD", "parameters_from_body"]

PAYLOAD = "payload"


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ParameterError("the request body is not UTF-8 text") from None


def parameters_from_body(
    content_type: str, body: bytes, inputs: set[str], fields: dict[str, bytes] | None = None
) -> dict[str, Any]:
    """The parameters a webhook request carries.

    Args:
        content_type: the request's ``Content-Type`` header.
        body: the raw body.
        inputs: the names of the workflow's inputs.
        fields: for multipart requests, each field's raw value (an uploaded file's
            content, without its file name), as the HTTP server parsed them.

    Raises:
        ParameterError: the body cannot be read as its content type says.

    """
    kind = content_type.split(";", 1)[0].strip().lower()
    if not body and kind != "multipart/form-data":
        return {}
    if kind == "application/json" or kind.endswith("+json"):
        try:
            value = json.loads(_text(body))
        except json.JSONDecodeError as exc:
            raise ParameterError(f"the body is not valid JSON ({exc})") from None
        if isinstance(value, dict) and (PAYLOAD not in inputs or set(value) <= inputs):
            return {str(k): v for k, v in value.items()}
        return {PAYLOAD: value}
    if kind == "application/x-www-form-urlencoded":
        return dict(parse_qsl(_text(body), keep_blank_values=True))
    if kind == "multipart/form-data":
        return {name: _text(value) for name, value in (fields or {}).items()}
    return {PAYLOAD: _text(body)}
