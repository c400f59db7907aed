"""What the worker trusts: the store's record of a run, never the task's say-so.

A run starts with references only (run id, workflow, version, spec hash): its spec is
loaded from the store after :func:`verify_reference`. A step task then arrives holding
the step's spec (code included). The payload codec already refuses anything FlowAt did
not encrypt; this module checks the rest before anything runs:

- the run exists in the metadata store, for the workflow and version the task names;
- the step's spec equals the one published in that version (code, inputs, settings);
- the organization is the run record's, so a task cannot name another one.

It also holds the policy for bodies of action and sub-workflow steps: when a step is
untrusted (marked, published by a non-Owner, or ``FLOWAT_UNTRUSTED_CODE=all``), its body
is evaluated as ``name = expression`` lines in the expression sandbox instead of as
Python in the worker.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from flowat_kernel.config import settings
from flowat_kernel.engine.executor import ExecutionResult, StepCodeError
from flowat_kernel.engine.messages import RunReference, StepTask
from flowat_kernel.errors import NotFoundError, SpecError, StepError
from flowat_kernel.spec import StepSpec, WorkflowSpec
from flowat_kernel.store import Store

__all__ = [
    "ForgedTask",
    "RunAuthority",
    "confined_body",
    "known_owner",
    "run_confined_body",
    "verify_reference",
    "verify_run",
    "verify_task",
]

log = logging.getLogger(__name__)


class ForgedTask(StepError):
    """A task that does not match what FlowAt recorded: nothing of it runs."""

    usage = False


@dataclass(frozen=True)
class RunAuthority:
    """What the store says about a run: its organization, workflow, version and spec.

    It is kept per process once read (it never changes), so a run's later steps are
    checked without the store: a store outage in the middle of a run does not stop it.
    """

    run_id: str
    owner: str
    workflow: str
    version: int
    spec: WorkflowSpec
    #: What started the run (``cli``, ``rest``, ``workflow:<parent run id>``, ...).
    trigger: str | None = None


_known: OrderedDict[str, RunAuthority] = OrderedDict()
_known_lock = threading.Lock()
_KNOWN_RUNS = 4096


def verify_run(store: Store, run_id: str, workflow: str | None = None) -> RunAuthority:
    """The store's record of ``run_id`` (cached: a run's owner and version never change).

    Raises:
        ForgedTask: no such run, or it belongs to another workflow.

    """
    with _known_lock:
        found = _known.get(run_id)
    if found is None:
        try:
            trigger, published = store.run_version(run_id)
        except NotFoundError:
            raise ForgedTask(
                f"refused a task for run {run_id!r}: no such run is recorded in the metadata "
                "store (a workflow started outside FlowAt?)"
            ) from None
        found = RunAuthority(
            run_id,
            published.owner,
            published.workflow,
            published.number,
            published.spec,
            trigger,
        )
        with _known_lock:
            _known[run_id] = found
            while len(_known) > _KNOWN_RUNS:
                _known.popitem(last=False)
    if workflow is not None and workflow != found.workflow:
        raise ForgedTask(
            f"refused a task for run {run_id!r}: it names workflow {workflow!r}, the run "
            f"is of {found.workflow!r}"
        )
    return found


def known_owner(run_id: str) -> str | None:
    """The organization owning ``run_id`` if this process verified the run (no store query)."""
    with _known_lock:
        found = _known.get(run_id)
    return found.owner if found is not None else None


def verify_reference(store: Store, reference: RunReference) -> RunAuthority:
    """The run's authority, if ``reference`` names what the store recorded for it.

    Raises:
        ForgedTask: the run is unknown, of another workflow or version, or the
            published spec's hash is not the one named.

    """
    authority = verify_run(store, reference.run_id, reference.workflow)
    if reference.version != authority.version:
        raise ForgedTask(
            f"refused run {reference.run_id}: it names version {reference.version}, the run "
            f"is of version {authority.version}"
        )
    published = authority.spec.content_hash()
    if reference.spec_hash != published:
        raise ForgedTask(
            f"refused run {reference.run_id}: it names spec {reference.spec_hash[:19]!r}, "
            f"{authority.workflow} v{authority.version} is {published[:19]}"
        )
    return authority


def verify_task(store: Store, task: StepTask) -> RunAuthority:
    """Check a step task against the store before it runs; the run's authority.

    Raises:
        ForgedTask: the run is unknown, or the step differs from the published one.

    """
    authority = verify_run(store, task.run_id, task.workflow)
    if task.version != authority.version:
        raise ForgedTask(
            f"refused step {task.step.name!r} of run {task.run_id}: the task names version "
            f"{task.version}, the run is of version {authority.version}"
        )
    if _published_step(authority.spec, task.step) != task.step:
        raise ForgedTask(
            f"refused step {task.step.name!r} of run {task.run_id}: it is not the step "
            f"published as {authority.workflow} v{authority.version} "
            f"({authority.spec.content_hash()[:19]})"
        )
    return authority


def _published_step(spec: WorkflowSpec, step: StepSpec) -> StepSpec | None:
    """The published step a task's step must equal (``NAME.INDEX`` is one ``--foreach`` item)."""
    try:
        return spec.step(step.name)
    except SpecError:
        pass
    base, _, index = step.name.rpartition(".")
    if not (base and index.isdigit()):
        return None
    try:
        published = spec.step(base)
    except SpecError:
        return None
    if published.foreach is None:
        return None
    return published.model_copy(update={"name": step.name})


def confined_body(step: StepSpec) -> bool:
    """Whether an action or sub-workflow step's body runs as expressions, not Python."""
    if step.kind not in ("action", "workflow"):
        return False
    return step.untrusted or settings().untrusted_code == "all"


def run_confined_body(
    step: StepSpec, inputs: dict[str, Any], names: tuple[str, ...]
) -> ExecutionResult:
    """Evaluate a confined body: ``name = expression`` lines over the step's inputs.

    Only ``names`` (the action's or the child workflow's inputs) are exported.

    Raises:
        StepCodeError: the body is not expressions, or one fails (an ``ExpressionError``).

    """
    from flowat_kernel.expressions import ExpressionError, run_assignments

    if not step.source.strip():
        return ExecutionResult({}, "", {})
    try:
        assigned = run_assignments(step.source, inputs, step=step.name)
    except ExpressionError as exc:
        hint = ExpressionError(
            f"{exc.reason} (this step is untrusted: its body is evaluated as "
            "`name = expression` lines in the expression sandbox, not as Python)",
            expression=exc.expression,
            step=step.name,
            line=exc.line,
            column=exc.column,
            limit=exc.limit,
        )
        raise StepCodeError(step.name, hint, exc.line, "", "") from None
    return ExecutionResult({k: v for k, v in assigned.items() if k in names}, "", {})
