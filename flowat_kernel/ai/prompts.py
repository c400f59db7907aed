"""Prompt templates: text with ``{{ expression }}`` placeholders, rendered once.

Each placeholder is an expression of FlowAt's expression language
(:mod:`flowat_kernel.expressions`): plain data, whitelisted helpers, no attributes,
imports or builtins, bounded work. It is evaluated against the variables given, and its
value replaces it: strings as they are, other values as JSON. Rendering is one pass
over the template: a value that itself contains ``{{ ... }}`` (a document, a user's
message, a tool's answer) is inserted as text and never evaluated, so data cannot
inject code or template syntax.

Templates are step-cell strings (or action inputs set in a step's body), or named
prompts (``%%flowat prompt NAME`` cells, ``prompts/NAME.md`` files) captured into the
spec at publish (:mod:`flowat_kernel.ai.prompt_library`); either way they are part of
the workflow's spec and its content hash: a changed prompt is a new version.

Example::

    >>> render("In {{ n }} words: {{ doc['text'] }}", {"n": 5, "doc": {"text": "{{ x }}"}})
    'In 5 words: {{ x }}'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from flowat_kernel.compiler.prompt_capture import PLACEHOLDER
from flowat_kernel.errors import FlowAtError
from flowat_kernel.expressions import ExpressionError, evaluate

__all__ = ["PLACEHOLDER", "TemplateError", "placeholders", "render"]


class TemplateError(FlowAtError):
    """A placeholder that cannot be evaluated (unknown name, refused syntax, limits)."""


def placeholders(template: str) -> list[str]:
    """The expressions of ``template``'s placeholders, in order."""
    return [m.group(1).strip() for m in PLACEHOLDER.finditer(template)]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def render(template: str, variables: Mapping[str, Any]) -> str:
    """``template`` with each ``{{ expression }}`` replaced by its value over ``variables``.

    Raises:
        TemplateError: a placeholder is empty or its expression fails; names which.

    """

    def replace(match: re.Match[str]) -> str:
        text = match.group(1).strip()
        if not text:
            raise TemplateError(
                f"prompt template: empty placeholder at character {match.start()}; "
                "write {{ name }} with a variable's name"
            )
        try:
            return _text(evaluate(text, variables))
        except ExpressionError as exc:
            known = ", ".join(sorted(variables)) or "none"
            raise TemplateError(
                f"prompt template: placeholder {{{{ {text} }}}} failed: {exc} "
                f"(variables given: {known})"
            ) from None

    # re.sub never re-scans what a replacement inserted: values are not re-evaluated.
    return PLACEHOLDER.sub(replace, template)
