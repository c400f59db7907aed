"""An editable copy of a workflow: step cells the graph editor changes, then compiles.

The draft holds each step as a header (its ``%%flowat step`` options) and a body. Every
edit is checked by writing the header line and parsing it back; every change is
compiled with the real compiler, whose diagnostics are mapped back to their steps.
Nothing is stored until :meth:`Draft.publish`, which always makes a new version.
"""

from __future__ import annotations

import dataclasses
import keyword
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from flowat_kernel.compiler import Cell, compile_cells
from flowat_kernel.compiler.header import HeaderError, StepHeader, parse_step_header
from flowat_kernel.compiler.header_writer import format_step_header, header_from_step, step_line
from flowat_kernel.errors import CompileError, FlowAtError
from flowat_kernel.spec import InputSpec, WorkflowSpec

__all__ = ["LOGIC_TEMPLATES", "CompileOutcome", "Draft", "DraftStep", "parameters_source"]

#: What a new logic step starts with: its header options and its body.
LOGIC_TEMPLATES: dict[str, tuple[dict[str, Any], str]] = {
    "if": ({"logic": "if"}, "True"),
    "switch": ({"logic": "switch"}, '"default"'),
    "set": ({"logic": "set"}, "value = 1"),
    "filter": ({"logic": "filter", "filter_items": "items"}, "True"),
    "wait": ({"logic": "wait", "wait_seconds": 10.0}, "# waits, then the run goes on"),
}

#: The name a new logic step gets unless one is given (``if`` is a Python keyword).
_LOGIC_NAMES = {
    "if": "condition",
    "switch": "route",
    "set": "values",
    "filter": "kept",
    "wait": "pause",
}


@dataclass
class DraftStep:
    """One step of the draft: its header, its body and the cell it came from."""

    header: StepHeader
    body: str
    cell_id: str | None = None
    cell_line: str | None = None

    @property
    def name(self) -> str:
        """The step's name."""
        return self.header.name

    @property
    def line(self) -> str:
        """The ``%%flowat step ...`` line the header writes."""
        return step_line(self.header)

    def source(self) -> str:
        """The whole cell source."""
        return f"{self.line}\n{self.body}"


@dataclass
class CompileOutcome:
    """A compile of the draft: the spec, or the problems per step (and the rest)."""

    spec: WorkflowSpec | None
    problems: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the draft compiled."""
        return self.spec is not None


def parameters_source(inputs: tuple[InputSpec, ...]) -> str:
    """A parameters cell that declares exactly ``inputs`` (types and defaults)."""
    lines = []
    for item in inputs:
        annotation = "Any" if item.type == "any" else item.type
        lines.append(f"{item.name}: {annotation} = {item.default!r}")
    return "\n".join(lines)


class Draft:
    """An editable workflow: its steps in order, and its inputs."""

    def __init__(self, workflow: str, steps: list[DraftStep], inputs: tuple[InputSpec, ...]):
        self.workflow = workflow
        self.steps = steps
        self.inputs = inputs

    @classmethod
    def from_spec(
        cls, spec: WorkflowSpec, cells: Mapping[str, tuple[str | None, str]] | None = None
    ) -> Draft:
        """A draft of ``spec``; ``cells`` maps step names to (cell id, first line)."""
        cells = cells or {}
        steps = []
        for step in spec.steps:
            cell_id, line = cells.get(step.name, (None, None))
            steps.append(DraftStep(header_from_step(step), step.source, cell_id, line))
        return cls(spec.name, steps, spec.inputs)

    # -- reading ------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Step names in order."""
        return [s.name for s in self.steps]

    def step(self, name: str) -> DraftStep:
        """The step called ``name``.

        Raises:
            FlowAtError: there is no such step.

        """
        for step in self.steps:
            if step.name == name:
                return step
        raise FlowAtError(f"the draft has no step {name!r}; its steps are {', '.join(self.names)}")

    def cells(self) -> list[Cell]:
        """The draft as notebook cells: the parameters cell, then one cell per step."""
        cells = [Cell(source=parameters_source(self.inputs), position=1, tags=("parameters",))]
        for position, step in enumerate(self.steps, start=2):
            cells.append(Cell(source=step.source(), position=position, cell_id=step.cell_id))
        return cells

    def compile(self) -> CompileOutcome:
        """Compile with the real compiler; diagnostics are filed under their steps."""
        try:
            return CompileOutcome(compile_cells(self.cells(), self.workflow))
        except CompileError as exc:
            by_position = {position: s.name for position, s in enumerate(self.steps, start=2)}
            outcome = CompileOutcome(None)
            for problem in exc.diagnostics:
                name = problem.step or by_position.get(problem.cell or 0)
                if name in self.names:
                    outcome.problems.setdefault(name, []).append(problem.message)
                else:
                    outcome.general.append(problem.describe())
            return outcome

    # -- editing ------------------------------------------------------------------------

    def _checked(self, header: StepHeader) -> StepHeader:
        try:
            return parse_step_header(format_step_header(header))
        except HeaderError as exc:
            raise FlowAtError(f"step {header.name!r}: {exc}") from None

    def update(self, name: str, /, **changes: Any) -> DraftStep:
        """Change header settings of step ``name`` (``retries=3``, ``local=True``, ...).

        Raises:
            FlowAtError: the settings do not make a valid step line (nothing changes).

        """
        step = self.step(name)
        if "name" in changes and changes["name"] != name:
            new_name = changes.pop("name")
            self.rename(name, new_name)
            step = self.step(new_name)
        step.header = self._checked(dataclasses.replace(step.header, **changes))
        return step

    def set_body(self, name: str, body: str) -> None:
        """Replace the body of step ``name`` (action inputs, logic expressions, code)."""
        self.step(name).body = body

    def rename(self, old: str, new: str) -> None:
        """Rename a step; ``--after`` lists naming it follow.

        Raises:
            FlowAtError: ``new`` is taken or not a valid name.

        """
        if new in self.names:
            raise FlowAtError(f"a step called {new!r} already exists; choose another name")
        step = self.step(old)
        step.header = self._checked(dataclasses.replace(step.header, name=new))
        for other in self.steps:
            if old in other.header.after:
                after = tuple(new if a == old else a for a in other.header.after)
                other.header = dataclasses.replace(other.header, after=after)

    def delete(self, name: str) -> DraftStep:
        """Remove a step (and ``--after`` references to it); returns what was removed."""
        step = self.step(name)
        self.steps.remove(step)
        for other in self.steps:
            if name in other.header.after:
                after = tuple(a for a in other.header.after if a != name)
                other.header = dataclasses.replace(other.header, after=after)
        return step

    def _free_name(self, base: str) -> str:
        base = base if base.isidentifier() and not keyword.iskeyword(base) else "step"
        name, number = base, 1
        while name in self.names:
            number += 1
            name = f"{base}_{number}"
        return name

    def add_action(
        self, action: str, inputs: type[BaseModel], name: str | None = None
    ) -> DraftStep:
        """Add an action step calling ``action`` (``connector.action``) at the end.

        Args:
            action: the action's full name.
            inputs: the action's input model; its required fields become the body.
            name: the step's name (by default the action's own name).

        """
        lines = []
        for field_name, info in inputs.model_fields.items():
            if info.is_required():
                lines.append(f"{field_name} = {'' if info.annotation is str else None!r}")
            else:
                lines.append(f"# {field_name} = {info.default!r}")
        return self._add(name or action.split(".", 1)[-1], {"action": action}, "\n".join(lines))

    def add_logic(self, kind: str, name: str | None = None) -> DraftStep:
        """Add a logic step (``if``, ``switch``, ``set``, ``filter``, ``wait``) at the end."""
        if kind not in LOGIC_TEMPLATES:
            raise FlowAtError(f"{kind!r} is not a logic kind; use {', '.join(LOGIC_TEMPLATES)}")
        options, body = LOGIC_TEMPLATES[kind]
        return self._add(name or _LOGIC_NAMES[kind], dict(options), body)

    def _add(self, name: str, options: dict[str, Any], body: str) -> DraftStep:
        header = self._checked(StepHeader(name=self._free_name(name), **options))
        step = DraftStep(header, body)
        self.steps.append(step)
        return step

    def connect(self, source: str, target: str) -> None:
        """Make ``target`` wait for ``source`` (``--after``)."""
        self.step(source)
        step = self.step(target)
        if source == target:
            raise FlowAtError("a step cannot wait for itself")
        if source not in step.header.after:
            self.update(target, after=(*step.header.after, source))

    def disconnect(self, source: str, target: str, spec: WorkflowSpec | None = None) -> None:
        """Remove ``target``'s ``--after source``.

        Raises:
            FlowAtError: the edge carries data (``spec`` says so) or is not there.

        """
        step = self.step(target)
        if source in step.header.after:
            self.update(target, after=tuple(a for a in step.header.after if a != source))
            return
        names = next(
            (
                e.names
                for e in (spec.edges if spec else ())
                if (e.source, e.target) == (source, target)
            ),
            (),
        )
        if names:
            raise FlowAtError(
                f"{target} reads {', '.join(names)} from {source}: that edge is data, not an "
                f"--after; change the code of {target} (or of {source}) to remove it"
            )
        raise FlowAtError(f"there is no edge from {source} to {target}")
