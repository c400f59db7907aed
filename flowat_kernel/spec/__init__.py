"""Workflow spec models and their JSON schema."""

from flowat_kernel.spec.model import (
    DEFAULT_NON_RETRYABLE,
    LOGIC_KINDS,
    Binding,
    Edge,
    FieldMapping,
    InputSpec,
    ParamType,
    PromptSpec,
    RetryPolicy,
    StepSpec,
    WorkflowSpec,
)

__all__ = [
    "DEFAULT_NON_RETRYABLE",
    "LOGIC_KINDS",
    "Binding",
    "Edge",
    "FieldMapping",
    "InputSpec",
    "ParamType",
    "PromptSpec",
    "RetryPolicy",
    "StepSpec",
    "WorkflowSpec",
    "json_schema",
]


def json_schema() -> dict[str, object]:
    """Return the JSON schema of :class:`WorkflowSpec`."""
    return WorkflowSpec.model_json_schema()
