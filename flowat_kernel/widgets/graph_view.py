"""The cytoscape canvas that every FlowAt graph widget draws on.

The editor's canvas is ``editable``: it places nodes itself (cytoscape's ``preset``
layout), shows palette items as nodes beside the graph, and reports every dragged
node's release (cytoscape's ``dragfree`` event, with the node's final position).

Besides the canvas, the view keeps a small hidden text mirror of what it shows
(``.flowat-graph-state``: node ids, kinds, classes and edges as JSON). Screen readers
and browser tests read the graph from it, since a canvas has no text.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

import ipycytoscape
import ipywidgets as widgets
import traitlets
from ipycytoscape.cytoscape import interaction_serialization

from flowat_kernel.widgets.canvas_layout import Point, hidden_edges, palette_positions
from flowat_kernel.widgets.graph_model import GraphEdge, GraphNode
from flowat_kernel.widgets.style import STYLESHEET

__all__ = ["GraphView"]

_LAYOUT: dict[str, Any] = {
    "name": "dagre",
    "rankDir": "LR",
    "nodeSep": 30,
    "rankSep": 70,
    "fit": True,
    "padding": 20,
    "animate": False,
}

_PRESET: dict[str, Any] = {"name": "preset", "fit": True, "padding": 20, "animate": False}
#: Seconds after a graph is displayed at which it is fitted again: the page lays a new
#: output out after cytoscape measured its canvas, so the first fit can clip the graph.
REFIT_AFTER = (0.5, 2.0)


class _DragCanvas(ipycytoscape.CytoscapeWidget):  # type: ignore[misc]
    """ipycytoscape's widget, also forwarding events its list leaves out (``dragfree``).

    The front end binds whatever event names this trait holds; only the Python-side
    check lists fewer. Every handler must be added before the widget is shown: the
    front end binds a newly added event only on a full re-render.
    """

    _interaction_handlers = traitlets.Dict({}).tag(sync=True, **interaction_serialization)


class GraphView:
    """A left-to-right graph of steps.

    Args:
        height: CSS height of the canvas.
        name: a name for the mirror element (``data-graph``), to tell graphs apart.
        editable: place nodes at given positions, show a palette, report drags.

    """

    def __init__(self, height: str = "340px", name: str = "graph", editable: bool = False) -> None:
        self.name = name
        self.editable = editable
        self.canvas = _DragCanvas() if editable else ipycytoscape.CytoscapeWidget()
        self.canvas.set_style(STYLESHEET)
        self.canvas.set_layout(**(_PRESET if editable else _LAYOUT))
        self.canvas.layout = widgets.Layout(height=height, width="100%")
        self._height = height
        self._refits = 0
        self.canvas.user_zooming_enabled = True
        self.canvas.auto_unselectify = False
        self.mirror = widgets.HTML(layout=widgets.Layout(display="none"))
        self.widget = widgets.VBox([self.canvas, self.mirror])
        self._nodes: dict[str, GraphNode] = {}
        self._cyto: dict[str, Any] = {}
        self._edges: list[GraphEdge] = []
        self._around: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[str], None]] = []
        self._release_listeners: list[Callable[[str, Point], None]] = []
        self.positions: dict[str, Point] = {}
        self.palette: list[tuple[str, str]] = []
        self.canvas.on("node", "click", self._clicked)
        if editable:
            self.canvas.on("node", "dragfree", self._released)

    # -- content ------------------------------------------------------------------------

    def show(
        self,
        nodes: Sequence[GraphNode],
        edges: Sequence[GraphEdge],
        *,
        positions: dict[str, Point] | None = None,
        palette: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Replace the whole graph.

        Args:
            nodes: the steps.
            edges: the dependencies.
            positions: where each step sits (editable views; others lay out anew).
            palette: (node id, label) of palette items, drawn in a column beside.

        """
        with self._lock:
            graph = self.canvas.graph
            graph.clear()
            self._nodes = {n.id: n for n in nodes}
            self._cyto = {}
            self.positions = dict(positions or {})
            self.palette = list(palette)
            cyto_nodes = []
            for node in nodes:
                element = ipycytoscape.Node(data=node.as_data(), classes=" ".join(node.classes))
                if node.id in self.positions:
                    x, y = self.positions[node.id]
                    element.position = {"x": x, "y": y}
                self._cyto[node.id] = element
                cyto_nodes.append(element)
            for (item, label), (x, y) in zip(palette, palette_positions(len(palette)), strict=True):
                data = {"id": item, "label": label, "tooltip": f"drag onto the graph: {label}"}
                cyto_nodes.append(
                    ipycytoscape.Node(data=data, classes="palette", position={"x": x, "y": y})
                )
            graph.add_nodes(cyto_nodes)
            known = set(self._nodes)
            self._edges = [e for e in edges if e.source in known and e.target in known]
            around = hidden_edges([(e.source, e.target) for e in self._edges], self.positions)
            self._around = around
            graph.add_edges(
                [
                    ipycytoscape.Edge(
                        data={"id": e.id, "source": e.source, "target": e.target, "label": e.label},
                        classes=" ".join(
                            (*e.classes, "around") if (e.source, e.target) in around else e.classes
                        ),
                    )
                    for e in self._edges
                ],
                directed=True,
            )
            self._mirror()

    def set_classes(self, node_id: str, classes: Sequence[str]) -> None:
        """Give one node exactly ``classes`` (a restyle, no new layout)."""
        with self._lock:
            node = self._nodes.get(node_id)
            if node is None:
                return
            updated = GraphNode(
                node.id, node.label, node.kind, tuple(classes), node.tooltip, node.cell_id
            )
            self._nodes[node_id] = updated
            element = self._cyto[node_id]
            text = " ".join(classes)
            if element.classes != text:
                element.classes = text
            self._mirror()

    def nodes(self) -> list[GraphNode]:
        """The nodes shown, in order."""
        return list(self._nodes.values())

    def edges(self) -> list[GraphEdge]:
        """The edges shown."""
        return list(self._edges)

    def state(self) -> dict[str, Any]:
        """What the mirror holds: nodes (id, kind, classes), edges, palette, positions."""
        state: dict[str, Any] = {
            "graph": self.name,
            "nodes": [
                {"id": n.id, "kind": n.kind, "classes": list(n.classes), "label": n.label}
                for n in self._nodes.values()
            ],
            "edges": [
                {
                    "source": e.source,
                    "target": e.target,
                    "names": list(e.names),
                    **({"around": True} if (e.source, e.target) in self._around else {}),
                }
                for e in self._edges
            ],
        }
        if self.editable:
            state["palette"] = [item for item, _ in self.palette]
            state["positions"] = {n: [round(x), round(y)] for n, (x, y) in self.positions.items()}
        return state

    def _mirror(self) -> None:
        text = json.dumps(self.state(), sort_keys=True)
        self.mirror.value = (
            f"<pre class='flowat-graph-state' data-graph='{html.escape(self.name)}'>"
            f"{html.escape(text)}</pre>"
        )

    # -- fitting ------------------------------------------------------------------------

    def refit(self) -> None:
        """Fit the graph to the canvas's current size.

        The canvas refits when its height changes, so the height alternates by one pixel.
        """
        self._refits += 1
        odd = self._refits % 2 == 1
        self.canvas.layout.height = f"calc({self._height} + 1px)" if odd else self._height

    def displayed(self) -> None:
        """Refit shortly after the graph is displayed (see ``REFIT_AFTER``)."""
        for delay in REFIT_AFTER:
            timer = threading.Timer(delay, self.refit)
            timer.daemon = True
            timer.start()

    # -- selection ----------------------------------------------------------------------

    def on_select(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(step_name)`` when a node is clicked."""
        self._listeners.append(listener)

    def select(self, node_id: str) -> None:
        """Select a node from the kernel, as if it had been clicked."""
        for listener in list(self._listeners):
            listener(node_id)

    def on_release(self, listener: Callable[[str, Point], None]) -> None:
        """Call ``listener(node_id, (x, y))`` when a dragged node is released."""
        self._release_listeners.append(listener)

    def release(self, node_id: str, at: Point) -> None:
        """Release node ``node_id`` at ``at`` from the kernel, as if it had been dragged."""
        if node_id in self.positions and node_id in self._cyto:
            self.positions[node_id] = at
        for listener in list(self._release_listeners):
            listener(node_id, at)

    def _released(self, event: dict[str, Any]) -> None:
        node_id = (event.get("data") or {}).get("id")
        position = event.get("position") or {}
        x, y = position.get("x"), position.get("y")
        if isinstance(node_id, str) and isinstance(x, int | float) and isinstance(y, int | float):
            self.release(node_id, (float(x), float(y)))

    def _clicked(self, event: dict[str, Any]) -> None:
        node_id = (event.get("data") or {}).get("id")
        if isinstance(node_id, str) and node_id in self._nodes:
            self.select(node_id)
