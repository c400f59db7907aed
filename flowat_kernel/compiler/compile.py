"""Compile notebook cells into a :class:`WorkflowSpec`. Pure: no I/O, no kernel.

A step depends on the last earlier step that defines a name it reads (or that a
function it uses reads); ``--after`` adds ordering edges. Code definitions (imports,
functions, classes) that a step uses are copied into its prelude so they work there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from flowat_kernel.compiler.cells import Cell, split_step_cell
from flowat_kernel.compiler.header import HeaderError, StepHeader, parse_step_header
from flowat_kernel.compiler.logic import RUN_NAME, check_expressions, mappings
from flowat_kernel.compiler.names import (
    RUNTIME_NAMES,
    Statement,
    StepNames,
    StepSyntaxError,
    analyse_step,
)
from flowat_kernel.compiler.parameters import parse_parameters
from flowat_kernel.compiler.prompt_capture import capture_prompts
from flowat_kernel.compiler.tool_steps import ToolSignatureError, tool_signature
from flowat_kernel.diagnostics import Diagnostic
from flowat_kernel.errors import CompileError
from flowat_kernel.ids import valid_name
from flowat_kernel.spec import Binding, Edge, InputSpec, RetryPolicy, StepSpec, WorkflowSpec
from flowat_kernel.spec.graph import find_cycle

__all__ = ["compile_cells", "normalise_body"]


def normalise_body(body: str) -> str:
    """Normalise a step body so a kernel cell and a file cell compare equal."""
    return "\n".join(line.rstrip() for line in body.rstrip().splitlines())


@dataclass
class _Step:
    header: StepHeader
    cell: Cell
    body: str
    statements: list[Statement] = field(default_factory=list)
    names: StepNames | None = None

    @property
    def name(self) -> str:
        return self.header.name

    def defines(self) -> set[str]:
        return {n for s in self.statements for n in s.defines | s.side_defines}


@dataclass(frozen=True)
class _Definition:
    kind: str  # "input", "data" or "code"
    step: int  # index into steps; -1 for the parameters cell
    statement: Statement | None = None
    position: int = -1  # the statement's index in its step


class _Resolver:
    """Answers "who defines NAME last before step i" over the whole notebook."""

    def __init__(self, steps: list[_Step], inputs: list[InputSpec]) -> None:
        self.steps = steps
        self.inputs = {i.name for i in inputs}
        self.by_name: dict[str, list[_Definition]] = {}
        for index, step in enumerate(steps):
            if step.header.exports_own_name or step.header.map_out:
                # A sub-workflow or action step's body sets the child's parameters or the
                # action's inputs, a logic step's holds an expression: what it defines for
                # later steps is its own name. A step with --out exports what it maps out.
                exported = [n for n, _ in step.header.map_out] or [step.name]
                for name in exported:
                    self.by_name.setdefault(name, []).append(_Definition("data", index))
                continue
            first: dict[Statement, int] = {}  # equal statements share the first's place
            for place, statement in enumerate(step.statements):
                position = first.setdefault(statement, place)
                for name in statement.defines:
                    self.by_name.setdefault(name, []).append(
                        _Definition(statement.kind, index, statement, position)
                    )
                for name in statement.side_defines:
                    self.by_name.setdefault(name, []).append(
                        _Definition("data", index, statement, position)
                    )

    def before(self, name: str, index: int) -> _Definition | None:
        found = [d for d in self.by_name.get(name, []) if d.step < index]
        if found:
            return found[-1]
        if name in self.inputs:
            return _Definition("input", -1)
        return None

    def later_definer(self, name: str, index: int) -> str | None:
        later = [d for d in self.by_name.get(name, []) if d.step > index]
        return self.steps[later[0].step].name if later else None


def _external_reads(step: _Step) -> list[tuple[str, int, bool]]:
    """Names the step reads from outside itself: (name, first body line, required).

    Optional reads (see :mod:`flowat_kernel.compiler.flow`) are inputs only when an
    earlier step or a parameter defines them.
    """
    assert step.names is not None
    defined_anywhere = step.defines()
    seen: dict[str, tuple[int, bool]] = {n: (line, True) for n, line in step.names.required.items()}
    for name, line in step.names.optional.items():
        seen.setdefault(name, (line, False))
    for statement in step.statements:
        for name in sorted(statement.deferred_reads):
            if name not in defined_anywhere and name not in seen:
                seen[name] = (statement.line, True)
    return [(n, line, required) for n, (line, required) in seen.items()]


def _parse_steps(cells: Sequence[Cell], problems: list[Diagnostic]) -> list[_Step]:
    steps: list[_Step] = []
    seen: dict[str, int] = {}
    for cell in cells:
        if cell.cell_type != "code":
            continue
        split = split_step_cell(cell.source)
        if split is None:
            continue
        arguments, body = split
        try:
            header = parse_step_header(arguments)
        except HeaderError as exc:
            problems.append(Diagnostic(exc.code, str(exc), cell=cell.position, line=1))
            continue
        if not valid_name(header.name):
            problems.append(
                Diagnostic(
                    "bad-option",
                    f"{header.name!r} is not a valid step name: start with a letter or _, "
                    "then letters, digits, _, - or .",
                    cell=cell.position,
                    line=1,
                )
            )
            continue
        if header.name in seen:
            problems.append(
                Diagnostic(
                    "duplicate-step",
                    f"step name {header.name!r} is already used by cell {seen[header.name]}; "
                    "give each step its own name",
                    step=header.name,
                    cell=cell.position,
                    line=1,
                )
            )
            continue
        seen[header.name] = cell.position
        step = _Step(header=header, cell=cell, body=normalise_body(body))
        try:
            step.names = analyse_step(step.body)
            step.statements = step.names.statements
        except StepSyntaxError as exc:
            line = exc.line + 1 if exc.line is not None else None
            problems.append(
                Diagnostic(
                    "syntax-error", str(exc), step=header.name, cell=cell.position, line=line
                )
            )
        steps.append(step)
    return steps


def _parameters(cells: Sequence[Cell], problems: list[Diagnostic]) -> list[InputSpec]:
    for cell in cells:
        if cell.is_parameters:
            inputs, found = parse_parameters(cell.source, cell.position)
            problems.extend(found)
            return inputs
    return []


def _build_step(
    index: int, step: _Step, resolver: _Resolver, problems: list[Diagnostic]
) -> tuple[StepSpec, list[Edge]]:
    bindings: dict[str, Binding] = {}
    prelude: dict[tuple[int, int], Statement] = {}
    carried: dict[int, set[str]] = {}
    header = step.header
    found = check_expressions(header, step.body, step.cell.position, problems, step.defines())
    reads = [(n, line, True) for n, line in found.reads.items()]
    if header.logic is None:
        code_reads = [r for r in _external_reads(step) if r[0] not in found.bound]
        known = {r[0] for r in code_reads}
        reads = code_reads + [r for r in reads if r[0] not in known]
    queue = list(reads)
    handled: set[str] = set()
    while queue:
        name, line, own = queue.pop(0)
        if name in handled:
            continue
        handled.add(name)
        definition = resolver.before(name, index)
        if definition is None:
            if name in RUNTIME_NAMES or name == RUN_NAME or not own:
                continue
            later = resolver.later_definer(name, index)
            hint = (
                f"step {later!r} defines it later: move that cell above this one"
                if later
                else "define it in an earlier step or in the parameters cell"
            )
            problems.append(
                Diagnostic(
                    "undefined-name",
                    f"reads {name!r}, which no earlier step defines; {hint}",
                    step=step.name,
                    cell=step.cell.position,
                    line=line + 1,
                )
            )
            continue
        if definition.kind == "input":
            bindings[name] = Binding(name=name, source="input")
            continue
        origin = resolver.steps[definition.step]
        carried.setdefault(definition.step, set()).add(name)
        if definition.kind == "data":
            if name.startswith("_"):
                problems.append(
                    Diagnostic(
                        "private-name",
                        f"reads {name!r}, which step {origin.name!r} keeps private (names "
                        "starting with _ are not passed on); rename it without the underscore",
                        step=step.name,
                        cell=step.cell.position,
                        line=line + 1,
                    )
                )
                continue
            bindings[name] = Binding(name=name, source="step", step=origin.name)
            continue
        statement = definition.statement
        assert statement is not None
        key = (definition.step, definition.position)
        if key not in prelude:
            prelude[key] = statement
            queue.extend((n, line, False) for n in sorted(statement.all_reads - statement.defines))
    edges = [
        Edge(source=resolver.steps[i].name, target=step.name, names=tuple(sorted(names)))
        for i, names in sorted(carried.items())
    ]
    if header.tool:
        edges = _tool_step(step, bindings, problems)
    retry = RetryPolicy() if header.retries is None else RetryPolicy(retries=header.retries)
    data = {n for s in step.statements if s.kind == "data" for n in s.defines}
    data |= {n for s in step.statements for n in s.side_defines}
    exports = sorted(n for n in data if not n.startswith("_"))
    if header.exports_own_name:
        exports = [step.name]
    spec = StepSpec(
        name=step.name,
        kind=header.kind,  # type: ignore[arg-type]
        workflow=header.workflow,
        workflow_version=header.workflow_version,
        action=header.action,
        source=step.body,
        prelude=tuple(prelude[k].source for k in sorted(prelude)),
        inputs=tuple(bindings[n] for n in sorted(bindings)),
        exports=tuple(exports),
        after=header.after,
        retry=retry,
        timeout_seconds=header.timeout_seconds or StepSpec.model_fields["timeout_seconds"].default,
        local=header.local,
        untrusted=header.untrusted,
        allow_network=header.allow_network,
        secrets=header.secrets,
        when=header.when,
        merge=header.merge,
        foreach=header.foreach,
        concurrency=header.concurrency or StepSpec.model_fields["concurrency"].default,
        chunk=header.chunk,
        items=header.filter_items,
        map_in=mappings(header.map_in),
        map_out=mappings(header.map_out),
        wait_seconds=header.wait_seconds,
        signal=header.signal,
        queue=header.queue,
        tool=header.tool,
    )
    return spec, edges


def _tool_step(step: _Step, bindings: dict[str, Binding], problems: list[Diagnostic]) -> list[Edge]:
    """Check a ``--tool`` step; it has no incoming edges (it runs when an agent calls it).

    It may read the workflow's parameters, and code (imports, functions) of earlier
    steps, which is copied into its prelude; not values other steps computed.
    """
    for binding in bindings.values():
        if binding.source == "step":
            problems.append(
                Diagnostic(
                    "tool-reads-step",
                    f"reads {binding.name!r} from step {binding.step!r}; a --tool step runs "
                    "whenever an agent calls it, so it may read the workflow's parameters and "
                    "its own arguments only: make it a parameter of the function",
                    step=step.name,
                    cell=step.cell.position,
                    line=1,
                )
            )
    try:
        tool_signature(step.body, step.name)
    except ToolSignatureError as exc:
        line = exc.line + 1 if exc.line is not None else 1
        problems.append(
            Diagnostic("bad-tool", str(exc), step=step.name, cell=step.cell.position, line=line)
        )
    return []


def _reads_from_tools(
    steps: list[_Step], edges: dict[tuple[str, str], Edge], problems: list[Diagnostic]
) -> None:
    """A step may not wait for a ``--tool`` step or read what it defines: it never runs."""
    tools = {s.name for s in steps if s.header.tool}
    cells = {s.name: s.cell.position for s in steps}
    for (source, target), edge in edges.items():
        if source in tools:
            what = f"reads {', '.join(edge.names)} from" if edge.names else "runs --after"
            problems.append(
                Diagnostic(
                    "reads-tool-step",
                    f"{what} --tool step {source!r}, which runs only when an agent calls it; "
                    "define what it shares in a step of its own",
                    step=target,
                    cell=cells[target],
                    line=1,
                )
            )


def compile_cells(cells: Sequence[Cell], name: str) -> WorkflowSpec:
    """Compile a notebook's cells into the spec of workflow ``name``.

    Args:
        cells: every cell of the notebook, in order (non-step cells are ignored,
            except the one tagged ``parameters``).
        name: the workflow's name.

    Raises:
        CompileError: listing every problem, each with its step, cell and line.

    """
    problems: list[Diagnostic] = []
    if not valid_name(name):
        problems.append(Diagnostic("bad-option", f"{name!r} is not a valid workflow name"))
    inputs = _parameters(cells, problems)
    steps = _parse_steps(cells, problems)
    if not steps and not problems:
        problems.append(
            Diagnostic("no-steps", "no cell starts with `%%flowat step NAME`; mark at least one")
        )
    if problems:
        raise CompileError(problems)
    resolver = _Resolver(steps, inputs)
    specs: list[StepSpec] = []
    edges: dict[tuple[str, str], Edge] = {}
    names = [s.name for s in steps]
    order = {name: index for index, name in enumerate(names)}
    for index, step in enumerate(steps):
        spec, found = _build_step(index, step, resolver, problems)
        specs.append(spec)
        for edge in found:
            edges[(edge.source, edge.target)] = edge
        for before in step.header.after:
            if before not in order or before == step.name:
                what = "itself" if before == step.name else f"unknown step {before!r}"
                problems.append(
                    Diagnostic(
                        "unknown-step",
                        f"--after names {what}; steps are: {', '.join(names)}",
                        step=step.name,
                        cell=step.cell.position,
                        line=1,
                    )
                )
            elif (before, step.name) not in edges:
                edges[(before, step.name)] = Edge(source=before, target=step.name)
    _reads_from_tools(steps, edges, problems)
    if not problems:
        cycle = find_cycle(names, list(edges))
        if cycle:
            cells_in = {s.name: s.cell.position for s in steps}
            problems.append(
                Diagnostic(
                    "cycle",
                    "the steps form a cycle: "
                    + " -> ".join(f"{n} (cell {cells_in[n]})" for n in cycle)
                    + "; remove an --after that points forward",
                    step=cycle[0],
                    cell=cells_in[cycle[0]],
                    line=1,
                )
            )
    if problems:
        raise CompileError(problems)
    positions = [(spec, step.cell.position) for spec, step in zip(specs, steps, strict=True)]
    prompts = capture_prompts(cells, positions, problems)
    if problems:
        raise CompileError(problems)
    ordered = sorted(edges.values(), key=lambda e: (order[e.target], order[e.source]))
    return WorkflowSpec(
        name=name,
        inputs=tuple(inputs),
        steps=tuple(specs),
        edges=tuple(ordered),
        prompts=prompts,
    )
