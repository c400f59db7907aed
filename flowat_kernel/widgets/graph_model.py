"""The graph of a workflow as plain data: nodes and edges with labels and classes.

Pure (no widgets): the editor, the diff and the run monitor build their pictures from
these records, and the tests check them without a browser.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flowat_kernel.spec import Edge, StepSpec, WorkflowSpec
from flowat_kernel.widgets.style import kind_group

__all__ = ["GraphEdge", "GraphNode", "edges_of", "kind_detail", "node_for", "nodes_of"]


@dataclass(frozen=True)
class GraphNode:
    """One step as drawn: id (the step name), label, kind and style classes."""

    id: str
    label: str
    kind: str
    classes: tuple[str, ...] = ()
    tooltip: str = ""
    cell_id: str | None = None

    def with_classes(self, *extra: str) -> GraphNode:
        """A copy with ``extra`` classes added (each once)."""
        merged = tuple(dict.fromkeys((*self.classes, *extra)))
        return GraphNode(self.id, self.label, self.kind, merged, self.tooltip, self.cell_id)

    def as_data(self) -> dict[str, Any]:
        """The node's cytoscape ``data`` dictionary."""
        return {"id": self.id, "label": self.label, "kind": self.kind, "tooltip": self.tooltip}


@dataclass(frozen=True)
class GraphEdge:
    """A dependency as drawn; ``names`` are the values that flow (none: ``--after``)."""

    source: str
    target: str
    names: tuple[str, ...] = field(default_factory=tuple)

    @property
    def id(self) -> str:
        """A stable id: ``source->target``."""
        return f"{self.source}->{self.target}"

    @property
    def label(self) -> str:
        """The names that flow, shortened when there are many."""
        if len(self.names) > 3:
            return ", ".join(self.names[:3]) + f" +{len(self.names) - 3}"
        return ", ".join(self.names)

    @property
    def classes(self) -> tuple[str, ...]:
        """``ordering`` for an edge that carries nothing (an ``--after``)."""
        return () if self.names else ("ordering",)


def kind_detail(kind: str, *, action: str | None, workflow: str | None) -> str:
    """The second label line: what kind of step, and what it calls."""
    if kind == "action" and action:
        return f"⚡ {action}"
    if kind == "workflow" and workflow:
        return f"↳ {workflow}"
    if kind == "code":
        return "code"
    return kind


def node_for(
    name: str,
    kind: str,
    *,
    action: str | None = None,
    workflow: str | None = None,
    cell_id: str | None = None,
    classes: Iterable[str] = (),
) -> GraphNode:
    """A node for step ``name`` of ``kind``, with its shape and fill classes."""
    detail = kind_detail(kind, action=action, workflow=workflow)
    base = (f"kind-{kind}", f"group-{kind_group(kind)}")
    return GraphNode(
        id=name,
        label=f"{name}\n{detail}",
        kind=kind,
        classes=tuple(dict.fromkeys((*base, *classes))),
        tooltip=f"{name} ({detail})",
        cell_id=cell_id,
    )


def _node_of_step(step: StepSpec, cell_id: str | None) -> GraphNode:
    return node_for(
        step.name, step.kind, action=step.action, workflow=step.workflow, cell_id=cell_id
    )


def nodes_of(spec: WorkflowSpec, cells: Mapping[str, str] | None = None) -> list[GraphNode]:
    """The spec's steps as nodes, in spec order; ``cells`` maps step names to cell ids."""
    cells = cells or {}
    return [_node_of_step(step, cells.get(step.name)) for step in spec.steps]


def edges_of(edges: Sequence[Edge]) -> list[GraphEdge]:
    """The spec's edges as drawn edges."""
    return [GraphEdge(e.source, e.target, tuple(e.names)) for e in edges]
