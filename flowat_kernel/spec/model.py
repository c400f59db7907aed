"""The workflow spec: what one immutable workflow version contains.

A :class:`WorkflowSpec` is the compiler's output and the engine's input. It is plain
data (JSON in, JSON out); its canonical JSON is hashed to identify a version.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from flowat_kernel.errors import SpecError
from flowat_kernel.spec.graph import find_cycle

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

#: Exceptions that mean the step's code is wrong, not that the world is flaky: retrying
#: them only delays the report, so they fail at once unless a policy says otherwise.
DEFAULT_NON_RETRYABLE: tuple[str, ...] = (
    "SyntaxError",
    "NameError",
    "UnboundLocalError",
    "ImportError",
    "ModuleNotFoundError",
    "StepInputError",
)

_Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")]
_Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
#: A task queue's name: letters, digits, ``_``, ``-`` and ``.``, at most 200 characters.
QUEUE_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$"
_Queue = Annotated[str, Field(pattern=QUEUE_PATTERN)]


def queue_name(value: object, where: str = "--queue") -> str:
    """``value`` as a task queue name (what ``--queue`` takes).

    Raises:
        SpecError: it is not one; the message names ``where`` it came from.

    """
    if isinstance(value, str) and re.fullmatch(QUEUE_PATTERN, value):
        return value
    raise SpecError(
        f"{where} {value!r}: name a task queue with letters, digits, '_', '-' and '.' "
        "(at most 200 characters, not starting with '.' or '-'), e.g. gpu or eu-west"
    )


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InputSpec(_Model):
    """A typed workflow input with its default (from the ``parameters`` cell)."""

    name: _Identifier
    type: ParamType = "any"
    default: Any = None


class RetryPolicy(_Model):
    """Bounded exponential backoff for one step.

    ``retries`` is the number of attempts after the first, so a step runs at most
    ``retries + 1`` times. Temporal's unlimited default is never used.
    """

    retries: int = Field(default=2, ge=0, le=100)
    initial_interval_seconds: float = Field(default=1.0, gt=0, le=3600)
    backoff_coefficient: float = Field(default=2.0, ge=1.0, le=10.0)
    maximum_interval_seconds: float = Field(default=60.0, gt=0, le=86400)
    non_retryable_errors: tuple[str, ...] = DEFAULT_NON_RETRYABLE

    @property
    def maximum_attempts(self) -> int:
        """Total attempts including the first."""
        return self.retries + 1


class Binding(_Model):
    """Where one name a step reads comes from: a workflow input or an earlier step."""

    name: _Identifier
    source: Literal["input", "step"]
    step: _Name | None = None

    @model_validator(mode="after")
    def _step_matches_source(self) -> Binding:
        if (self.source == "step") != (self.step is not None):
            raise ValueError("a binding names a step exactly when its source is 'step'")
        return self


#: Step kinds the workflow itself evaluates with the sandboxed expression language, or
#: (``wait``) carries out with a timer or a signal; they never run user code.
LOGIC_KINDS: frozenset[str] = frozenset({"if", "switch", "set", "filter", "wait"})

StepKind = Literal["code", "workflow", "action", "if", "switch", "set", "filter", "wait"]


def expression_body(body: str) -> str:
    """The one expression of an if/switch/filter cell, without comments and blank lines."""
    lines = [ln for ln in body.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return "\n".join(lines).strip()


class FieldMapping(_Model):
    """``name = expression``: an input mapped in (``--in``) or an export mapped out (``--out``)."""

    name: _Identifier
    expression: str = Field(min_length=1, max_length=10_000)


class StepSpec(_Model):
    """One step: its code, what it reads, what it exports and how it is run.

    Logic kinds hold an expression (``if``, ``switch``), assignments (``set``) or a
    predicate over ``item`` (``filter``, whose list is ``items``) in ``source``; ``wait``
    waits ``wait_seconds`` or, with ``signal``, until that signal arrives (at most
    ``timeout_seconds``). Any step may have a ``when`` condition (false: the step is
    skipped, and so are its dependents unless they ``merge``), and a ``foreach`` list to
    run once per item with at most ``concurrency`` at a time.
    """

    name: _Name
    kind: StepKind = "code"
    source: str
    prelude: tuple[str, ...] = ()
    inputs: tuple[Binding, ...] = ()
    exports: tuple[_Identifier, ...] = ()
    after: tuple[_Name, ...] = ()
    retry: RetryPolicy = RetryPolicy()
    timeout_seconds: float = Field(default=600.0, gt=0, le=7 * 86400)
    local: bool = False
    untrusted: bool = False
    allow_network: bool = False
    secrets: tuple[_Name, ...] = ()
    workflow: _Name | None = None
    workflow_version: int | None = Field(default=None, ge=1)
    action: str | None = None
    when: str | None = Field(default=None, min_length=1, max_length=10_000)
    merge: bool = False
    foreach: str | None = Field(default=None, min_length=1, max_length=10_000)
    concurrency: int = Field(default=4, ge=1, le=256)
    items: str | None = Field(default=None, min_length=1, max_length=10_000)
    map_in: tuple[FieldMapping, ...] = ()
    map_out: tuple[FieldMapping, ...] = ()
    wait_seconds: float | None = Field(default=None, gt=0, le=366 * 86400)
    signal: _Identifier | None = None
    queue: _Queue | None = None
    #: A code step an ``llm.agent`` step may call as a tool (``%%flowat step NAME
    #: --tool``): it defines ``def NAME(...)`` and runs only when the model calls it.
    tool: bool = False

    @property
    def outputs(self) -> tuple[str, ...]:
        """The names later steps see: the ``--out`` names if any, else ``exports``.

        ``exports`` are always the names the step's own code assigns.
        """
        return tuple(m.name for m in self.map_out) or self.exports

    @property
    def expression(self) -> str:
        """An if, switch or filter step's one expression: its source without comments."""
        return expression_body(self.source)

    @model_validator(mode="after")
    def _kind_fits(self) -> StepSpec:
        if (self.kind == "workflow") != (self.workflow is not None):
            raise ValueError(
                "a step of kind 'workflow' names the workflow it runs (workflow), "
                "and only such a step does"
            )
        if self.workflow_version is not None and self.workflow is None:
            raise ValueError("workflow_version needs workflow")
        if (self.kind == "action") != (self.action is not None):
            raise ValueError(
                "a step of kind 'action' names the action it calls (action), and only such "
                "a step does"
            )
        if (self.kind == "filter") != (self.items is not None):
            raise ValueError("a step of kind 'filter' names its list (items), and only such a step")
        if self.kind == "wait" and (self.wait_seconds is None) == (self.signal is None):
            raise ValueError("a 'wait' step waits either wait_seconds or for a signal")
        if self.kind != "wait" and (self.wait_seconds is not None or self.signal is not None):
            raise ValueError("only a step of kind 'wait' has wait_seconds or signal")
        if self.foreach is not None and self.kind not in ("code", "action", "workflow"):
            raise ValueError("foreach runs a code, action or sub-workflow step once per item")
        if self.tool and (self.kind != "code" or self.foreach is not None or self.when):
            raise ValueError(
                "a --tool step is a code step defining the function the model calls; "
                "it takes no --action, --workflow, logic option, --foreach or --when"
            )
        if self.queue is not None and self.local:
            raise ValueError(
                "a --local step runs inside the worker that runs its workflow, so it cannot "
                f"be routed to queue {self.queue!r}: drop --local or --queue"
            )
        if self.queue is not None and self.kind in LOGIC_KINDS:
            raise ValueError(
                f"a {self.kind!r} step is evaluated by the workflow itself, so it cannot be "
                f"routed to queue {self.queue!r}: drop --queue"
            )
        return self

    def routed_to(self, default: str | None) -> str | None:
        """The task queue this step's activity (or sub-workflow) goes to, if routed.

        Its own ``queue``, else the workflow's ``default``; ``None`` (the run's own task
        queue) for ``--local`` and logic steps, which never leave the workflow's worker.
        """
        if self.local or self.kind in LOGIC_KINDS:
            return None
        return self.queue or default


#: Step fields added after the first release; see :meth:`WorkflowSpec.canonical_json`.
LATER_STEP_FIELDS: tuple[str, ...] = (
    "allow_network",
    "secrets",
    "when",
    "merge",
    "foreach",
    "concurrency",
    "items",
    "map_in",
    "map_out",
    "wait_seconds",
    "signal",
    "queue",
    "tool",
)


#: Workflow fields added after the first release, left out of the canonical JSON (and so
#: of the content hash) while they hold their default, as :data:`LATER_STEP_FIELDS` are.
LATER_WORKFLOW_FIELDS: tuple[str, ...] = ("on_failure", "queue", "prompts")

#: What a run does when a step fails for good: ``stop`` starts no further step (steps
#: not started stay pending, as cells after a failing one in a notebook); ``continue``
#: keeps starting every step that does not depend on a failed one. Either way the run
#: ends failed with the first failure.
OnFailure = Literal["stop", "continue"]
ON_FAILURE_CHOICES: tuple[str, ...] = ("stop", "continue")


def on_failure_choice(value: object, where: str = "on_failure") -> OnFailure:
    """``value`` as an :data:`OnFailure` setting.

    Raises:
        SpecError: it is not one; the message names ``where`` it came from.

    """
    if value == "stop":
        return "stop"
    if value == "continue":
        return "continue"
    raise SpecError(
        f"{where} must be 'stop' (a failed step stops the run) or 'continue' (steps that do "
        f"not depend on the failed one still run), not {value!r}"
    )


def metadata_on_failure(metadata: Mapping[str, Any] | None) -> OnFailure | None:
    """A notebook's ``metadata.flowat.on_failure``, or ``None`` when it sets none.

    Raises:
        SpecError: it is set to something else than ``stop`` or ``continue``.

    """
    flowat = (metadata or {}).get("flowat")
    if not isinstance(flowat, Mapping) or flowat.get("on_failure") is None:
        return None
    return on_failure_choice(flowat["on_failure"], "the notebook's metadata.flowat.on_failure")


def metadata_queue(metadata: Mapping[str, Any] | None) -> str | None:
    """A notebook's ``metadata.flowat.queue`` (its steps' default task queue), or ``None``.

    Raises:
        SpecError: it is set to something that is not a task queue name.

    """
    flowat = (metadata or {}).get("flowat")
    if not isinstance(flowat, Mapping) or flowat.get("queue") is None:
        return None
    return queue_name(flowat["queue"], "the notebook's metadata.flowat.queue")


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
