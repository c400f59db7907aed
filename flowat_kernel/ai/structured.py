"""Structured output: the JSON schema an answer must satisfy, and checking an answer.

A step names the shape it wants as a pydantic model class or a JSON schema (a dict);
either becomes a JSON schema, which travels with the step's input (a class cannot).
:func:`check` parses an answer and validates it, returning the value or a short,
model-readable description of what is wrong, which the caller sends back to the model
when it asks again.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

__all__ = ["MAX_ERRORS", "check", "schema_of"]

#: At most this many validation errors are described to the model.
MAX_ERRORS = 5


def schema_of(shape: Any) -> dict[str, Any]:
    """The JSON schema of ``shape``: a pydantic model class, or a JSON schema dict.

    Raises:
        ValueError: ``shape`` is neither, or the dict is not a valid JSON schema.

    """
    if isinstance(shape, type) and issubclass(shape, BaseModel):
        return shape.model_json_schema()
    if isinstance(shape, dict):
        import jsonschema  # on first use: its format checkers hold about 20 MB

        try:
            jsonschema.validators.validator_for(shape).check_schema(shape)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"not a valid JSON schema: {exc.message}") from None
        return shape
    raise ValueError(
        f"output_schema must be a pydantic model class or a JSON schema dict, "
        f"not {type(shape).__name__}"
    )


def check(content: str, schema: dict[str, Any]) -> tuple[Any, str | None]:
    """``(value, None)`` when ``content`` is JSON satisfying ``schema``; else ``(None, why)``.

    ``why`` names each wrong place (``$.items[2].price: 'x' is not of type 'number'``),
    at most :data:`MAX_ERRORS` of them, so the model can correct its answer.
    """
    text = _unfenced(content)
    try:
        value = json.loads(text)
    except ValueError as exc:
        return None, f"the answer is not JSON ({exc}); answer with one JSON value only"
    import jsonschema  # on first use: every FlowAt worker imports this module

    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if not errors:
        return value, None
    described = [f"{e.json_path}: {e.message}" for e in errors[:MAX_ERRORS]]
    more = f" (and {len(errors) - MAX_ERRORS} more)" if len(errors) > MAX_ERRORS else ""
    return None, "the JSON does not match the schema: " + "; ".join(described) + more


def _unfenced(content: str) -> str:
    """The text inside a Markdown code fence, as models often wrap JSON; else as is."""
    text = content.strip()
    if text.startswith("```") and text.endswith("```") and len(text) >= 6:
        inner = text[3:-3]
        first, _, rest = inner.partition("\n")
        return rest if first.strip().isalpha() or not first.strip() else inner
    return text
