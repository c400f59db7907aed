"""One step of a workflow: :class:`StepSpec` and the models it is made of.

A step's retry policy (:class:`RetryPolicy`; :data:`DEFAULT_NON_RETRYABLE` errors fail at
once), where each name it reads comes from (:class:`Binding`), its ``--in`` and ``--out``
mappings (:class:`FieldMapping`), the kinds the workflow evaluates itself
(:data:`LOGIC_KINDS`), and the step fields added after the first release
(:data:`LATER_STEP_FIELDS`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from flowat_kernel.spec.fields import _Identifier, _Model, _Name, _Queue

__all__ = [
    "DEFAULT_NON_RETRYABLE",
    "LATER_STEP_FIELDS",
    "LOGIC_KINDS",
    "Binding",
    "FieldMapping",
    "RetryPolicy",
    "StepSpec",
    "expression_body",
]


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
    run once per item with at most ``concurrency`` at a time. A ``foreach`` code step
    with ``chunk`` runs its items ``chunk`` at a time in one activity and one step
    process (each item still in a fresh namespace, recorded and retried on its own).
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
    chunk: int | None = Field(default=None, ge=1, le=10_000)
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
        if self.chunk is not None and (self.foreach is None or self.kind != "code"):
            raise ValueError("chunk groups the items of a --foreach code step: give foreach too")
        if self.chunk is not None and self.queue is not None:
            raise ValueError(
                "a chunked --foreach step runs on its workflow's own queue: drop --queue or --chunk"
            )
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
    "chunk",
    "items",
    "map_in",
    "map_out",
    "wait_seconds",
    "signal",
    "queue",
    "tool",
)
