"""The workflow papermill's engine runs for a notebook, with papermill's semantics.

:func:`papermill_workflow` compiles the notebook's cells (its step cells, or every code
cell as a step when it has none: :mod:`flowat_kernel.papermill.cells_as_steps`), declares
the parameters the parameters cell does not, and types each given parameter's input so
the value papermill parsed arrives unchanged. The spec is otherwise the notebook's own,
the one ``flowat run --notebook`` publishes, so running a notebook both ways adds no
version. papermill's defaults are the run's own limits instead
(:class:`~flowat_kernel.engine.messages.StepLimits`), for every step that does not say
otherwise in its ``%%flowat step`` line: one attempt, and ``--execution-timeout`` as
the timeout of each code step (without it, the longest a step may take, 7 days:
papermill sets no limit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flowat_kernel.compiler import Cell, compile_cells
from flowat_kernel.compiler.cells import split_step_cell
from flowat_kernel.compiler.header import HeaderError, parse_step_header
from flowat_kernel.engine.messages import StepLimits
from flowat_kernel.papermill.cells_as_steps import has_step_cells, plan_cells_as_steps
from flowat_kernel.papermill.parameters import fit_inputs, with_declared
from flowat_kernel.spec import WorkflowSpec

__all__ = ["NO_TIMEOUT_SECONDS", "PapermillWorkflow", "papermill_workflow"]

#: A step's timeout when neither its line nor ``--execution-timeout`` sets one.
NO_TIMEOUT_SECONDS = 7 * 86400.0


@dataclass
class PapermillWorkflow:
    """What the engine publishes, how it runs it, and how the run fills the notebook.

    Attributes:
        spec: the workflow.
        cell_steps: the step of each cell (0-based index) when cells became steps
            without a step line; ``None`` when the notebook's step cells name them.
        exports: whether cells show the values their steps exported (step cells do;
            cells run as steps show only what a kernel would show).
        limits: papermill's attempts and timeouts for the steps whose line does not
            set their own, for the run to apply.

    """

    spec: WorkflowSpec
    cell_steps: dict[int, str] | None
    exports: bool
    limits: dict[str, StepLimits] = field(default_factory=dict)


def _explicit(cells: Sequence[Cell]) -> dict[str, tuple[bool, bool]]:
    """For each step cell: whether its line sets ``--retries`` and ``--timeout``."""
    found: dict[str, tuple[bool, bool]] = {}
    for cell in cells:
        split = split_step_cell(cell.source) if cell.cell_type == "code" else None
        if split is None:
            continue
        try:
            header = parse_step_header(split[0])
        except HeaderError:
            continue
        found[header.name] = (header.retries is not None, header.timeout_seconds is not None)
    return found


def papermill_workflow(
    cells: Sequence[Cell],
    workflow: str,
    parameters: Mapping[str, Any],
    execution_timeout: float | None = None,
) -> PapermillWorkflow:
    """The workflow for ``cells`` run by papermill with ``parameters``.

    Raises:
        CompileError: a step cell or the parameters cell does not compile.

    """
    cells = with_declared(cells, list(parameters))
    if has_step_cells(cells):
        spec = compile_cells(cells, workflow)
        cell_steps: dict[int, str] | None = None
        explicit = _explicit(cells)
    else:
        plan = plan_cells_as_steps(cells, workflow)
        spec, cell_steps, explicit = plan.spec, plan.cell_steps, {}
    timeout = min(float(execution_timeout or NO_TIMEOUT_SECONDS), NO_TIMEOUT_SECONDS)
    limits: dict[str, StepLimits] = {}
    for step in spec.steps:
        retries_given, timeout_given = explicit.get(step.name, (False, False))
        attempts = None if retries_given else 1
        seconds = None if timeout_given or step.kind != "code" else timeout
        if attempts is not None or seconds is not None:
            limits[step.name] = StepLimits(attempts=attempts, timeout_seconds=seconds)
    inputs = tuple(fit_inputs(spec.inputs, parameters))
    if inputs != spec.inputs:
        spec = WorkflowSpec.model_validate(spec.model_copy(update={"inputs": inputs}).model_dump())
    return PapermillWorkflow(
        spec=spec, cell_steps=cell_steps, exports=cell_steps is None, limits=limits
    )
