"""The workflow spec: what one immutable workflow version contains.

A :class:`WorkflowSpec` is the compiler's output and the engine's input. It is plain
data (JSON in, JSON out); its canonical JSON is hashed to identify a version.

One step is a :class:`~flowat_kernel.spec.step.StepSpec` (:mod:`flowat_kernel.spec.step`);
the workflow-wide options are in :mod:`flowat_kernel.spec.workflow_options`, and the base
model and name patterns every model uses in :mod:`flowat_kernel.spec.fields`. This
module re-exports their public names.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from flowat_kernel.errors import SpecError
from flowat_kernel.spec.fields import QUEUE_PATTERN, _Identifier, _Model, _Name, _Queue, queue_name
from flowat_kernel.spec.graph import find_cycle
from flowat_kernel.spec.step import (
    DEFAULT_NON_RETRYABLE,
    LATER_STEP_FIELDS,
    LOGIC_KINDS,
    Binding,
    FieldMapping,
    RetryPolicy,
    StepSpec,
    expression_body,
)
from flowat_kernel.spec.workflow_options import (
    ON_FAILURE_CHOICES,
    OnFailure,
    metadata_on_failure,
    metadata_queue,
    on_failure_choice,
)

__all__ = [
    "DEFAULT_NON_RETRYABLE",
    "LATER_STEP_FIELDS",
    "LATER_WORKFLOW_FIELDS",
    "LOGIC_KINDS",
    "ON_FAILURE_CHOICES",
    "QUEUE_PATTERN",
    "Binding",
    "Edge",
    "FieldMapping",
    "InputSpec",
    "OnFailure",
    "ParamType",
    "PromptSpec",
    "RetryPolicy",
    "StepSpec",
    "WorkflowSpec",
    "expression_body",
    "metadata_on_failure",
    "metadata_queue",
    "on_failure_choice",
    "queue_name",
]

ParamType = Literal["int", "float", "str", "bool", "list", "dict", "any"]


class InputSpec(_Model):
    """A typed workflow input with its default (from the ``parameters`` cell)."""

    name: _Identifier
    type: ParamType = "any"
    default: Any = None


#: Workflow fields added after the first release, left out of the canonical JSON (and so
#: of the content hash) while they hold their default, as :data:`LATER_STEP_FIELDS` are.
LATER_WORKFLOW_FIELDS: tuple[str, ...] = ("on_failure", "queue", "prompts")


def _json_default(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class PromptSpec(_Model):
    """A prompt template captured at publish time: its name, text and where it came from.

    ``file`` is the prompt file's path relative to the notebook (``prompts/NAME.md``), or
    ``None`` for a ``%%flowat prompt NAME`` cell. The text is part of the version (and
    its content hash): changing the file later changes no published version.
    """

    name: _Identifier
    text: str = Field(max_length=100_000)
    file: str | None = Field(default=None, max_length=1000)


class Edge(_Model):
    """A dependency: ``target`` starts only after ``source`` succeeded.

    ``names`` lists the values (or code) that flow along the edge; it is empty for an
    ordering edge from ``--after``.
    """

    source: _Name
    target: _Name
    names: tuple[str, ...] = ()


class WorkflowSpec(_Model):
    """The immutable content of one workflow version."""

    spec_version: Literal[1] = 1
    name: _Name
    inputs: tuple[InputSpec, ...] = ()
    steps: tuple[StepSpec, ...]
    edges: tuple[Edge, ...] = ()
    on_failure: OnFailure = "stop"
    #: The task queue of every code, action and sub-workflow step that names none
    #: (``None``: the run's own task queue). See ``docs/deploy.md``.
    queue: _Queue | None = None
    #: Prompt templates of the version, by name (``llm.chat``/``llm.agent``'s
    #: ``prompt_name``); see ``docs/ai.md``.
    prompts: tuple[PromptSpec, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> WorkflowSpec:
        names = [s.name for s in self.steps]
        prompt_names = [p.name for p in self.prompts]
        if len(set(prompt_names)) != len(prompt_names):
            raise ValueError("two prompts have the same name")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate step names: {', '.join(duplicates)}")
        if not self.steps:
            raise ValueError("a workflow needs at least one step")
        known = set(names)
        for edge in self.edges:
            for end in (edge.source, edge.target):
                if end not in known:
                    raise ValueError(
                        f"edge {edge.source} -> {edge.target} names unknown step {end!r}"
                    )
        inputs = {i.name for i in self.inputs}
        upstream = self.upstream_map()
        for step in self.steps:
            for binding in step.inputs:
                if binding.source == "input" and binding.name not in inputs:
                    raise ValueError(
                        f"step {step.name!r} reads workflow input {binding.name!r}, "
                        "which the workflow does not declare"
                    )
                if binding.source == "step" and binding.step not in upstream[step.name]:
                    raise ValueError(
                        f"step {step.name!r} reads {binding.name!r} from step {binding.step!r} "
                        "without an edge from it"
                    )
        cycle = find_cycle(names, [(e.source, e.target) for e in self.edges])
        if cycle:
            raise ValueError("the steps form a cycle: " + " -> ".join(cycle))
        return self

    # -- derived views -----------------------------------------------------------------

    def step(self, name: str) -> StepSpec:
        """Return the step called ``name``.

        Raises:
            SpecError: there is no such step.

        """
        for step in self.steps:
            if step.name == name:
                return step
        raise SpecError(
            f"workflow {self.name!r} has no step {name!r}; its steps are "
            + ", ".join(s.name for s in self.steps)
        )

    def prompt(self, name: str) -> str:
        """The text of prompt ``name``.

        Raises:
            SpecError: the version has no such prompt; names those it has.

        """
        for prompt in self.prompts:
            if prompt.name == name:
                return prompt.text
        known = ", ".join(p.name for p in self.prompts) or "none"
        raise SpecError(
            f"workflow {self.name!r} has no prompt {name!r} (its prompts: {known}); add a "
            f"`%%flowat prompt {name}` cell or a prompts/{name}.md file and publish again"
        )

    def upstream_map(self) -> dict[str, set[str]]:
        """Map each step to the steps it directly depends on."""
        result: dict[str, set[str]] = {s.name: set() for s in self.steps}
        for edge in self.edges:
            result.setdefault(edge.target, set()).add(edge.source)
        return result

    def canonical_json(self) -> str:
        """JSON with sorted keys and no whitespace: the text the content hash covers.

        Step and workflow fields added after the first release are left out while they
        hold their default, so a version published before they existed keeps its hash.
        """
        data = self.model_dump(mode="json")
        for name in LATER_WORKFLOW_FIELDS:
            if data[name] == _json_default(WorkflowSpec.model_fields[name].get_default()):
                del data[name]
        defaults = {n: StepSpec.model_fields[n].get_default() for n in LATER_STEP_FIELDS}
        for step in data["steps"]:
            for name, default in defaults.items():
                if name in step and step[name] == _json_default(default):
                    del step[name]
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def content_hash(self) -> str:
        """``sha256:`` plus the hex digest of :meth:`canonical_json`."""
        return "sha256:" + hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @classmethod
    def parse(cls, data: Any) -> WorkflowSpec:
        """Validate ``data`` (a mapping or JSON text) into a spec.

        Raises:
            SpecError: naming the step and the field of every problem.

        """
        try:
            if isinstance(data, str | bytes):
                return cls.model_validate_json(data)
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(_describe_validation(exc, data)) from exc


def _describe_validation(exc: ValidationError, data: Any) -> str:
    raw: dict[str, Any] = {}
    if isinstance(data, dict):
        raw = data
    elif isinstance(data, str | bytes):
        try:
            loaded = json.loads(data)
            raw = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            raw = {}
    problems = []
    for error in exc.errors():
        loc = list(error["loc"])
        where = "workflow"
        if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
            steps = raw.get("steps") or []
            name = None
            if loc[1] < len(steps) and isinstance(steps[loc[1]], dict):
                name = steps[loc[1]].get("name")
            where = f"step {name!r}" if name else f"step #{loc[1] + 1}"
            loc = loc[2:]
        field = ".".join(str(p) for p in loc) or "(spec)"
        problems.append(f"{where}: {field}: {error['msg']}")
    return "invalid workflow spec:\n  " + "\n  ".join(problems)
