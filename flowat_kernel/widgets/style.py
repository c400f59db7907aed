"""How the graph looks: node shapes by step kind, colours by run state and diff status.

One cytoscape stylesheet serves the editor, the diff and the run monitor; each sets
classes on nodes (``kind-*``, ``state-*``, ``diff-*``, ``error``) and the stylesheet
does the rest, so the kernel never sends colours, only meaning.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KIND_SHAPES", "STATE_COLOURS", "STYLESHEET", "kind_group"]

#: Node shape per step kind (cytoscape shape names).
KIND_SHAPES: dict[str, str] = {
    "code": "round-rectangle",
    "action": "hexagon",
    "workflow": "barrel",
    "if": "diamond",
    "switch": "diamond",
    "filter": "vee",
    "set": "tag",
    "wait": "ellipse",
}

_KIND_FILL: dict[str, str] = {
    "code": "#e3f2fd",
    "action": "#fff3e0",
    "workflow": "#ede7f6",
    "logic": "#f1f8e9",
}

#: Fill colour per step state in the run monitor (``waiting``: a timer or a signal).
STATE_COLOURS: dict[str, str] = {
    "pending": "#cfd8dc",
    "running": "#1e88e5",
    "retrying": "#fb8c00",
    "waiting": "#8e24aa",
    "succeeded": "#43a047",
    "failed": "#e53935",
    "skipped": "#fafafa",
    "cancelled": "#6d4c41",
}

_DIFF_BORDERS: dict[str, tuple[str, str]] = {
    "added": ("#2e7d32", "solid"),
    "removed": ("#c62828", "dashed"),
    "changed": ("#ef6c00", "double"),
}


def kind_group(kind: str) -> str:
    """``code``, ``action``, ``workflow`` or ``logic`` (every logic kind)."""
    return kind if kind in ("code", "action", "workflow") else "logic"


def _stylesheet() -> list[dict[str, Any]]:
    sheet: list[dict[str, Any]] = [
        {
            "selector": "node",
            "style": {
                "label": "data(label)",
                "text-wrap": "wrap",
                "text-valign": "center",
                "text-halign": "center",
                "font-size": 13,
                "width": 130,
                "height": 46,
                "border-width": 1,
                "border-color": "#546e7a",
                "color": "#212121",
            },
        },
        {
            "selector": "edge",
            "style": {
                "curve-style": "bezier",
                "target-arrow-shape": "triangle",
                "width": 2,
                "line-color": "#90a4ae",
                "target-arrow-color": "#90a4ae",
                "label": "data(label)",
                "font-size": 11,
                "text-background-color": "#ffffff",
                "text-background-opacity": 0.8,
            },
        },
        {"selector": "edge.ordering", "style": {"line-style": "dashed"}},
        {  # an edge that would pass behind a step: curved around it
            "selector": "edge.around",
            "style": {
                "curve-style": "unbundled-bezier",
                "control-point-distances": [-60],
                "control-point-weights": [0.5],
            },
        },
        {"selector": "node:selected", "style": {"border-width": 4, "border-color": "#1565c0"}},
        {  # the step the editor's side panel shows
            "selector": "node.picked",
            "style": {"border-width": 4, "border-color": "#1565c0", "border-style": "solid"},
        },
        {
            "selector": "node.error",
            "style": {"border-width": 4, "border-color": "#d50000", "border-style": "solid"},
        },
    ]
    for kind, shape in KIND_SHAPES.items():
        sheet.append({"selector": f"node.kind-{kind}", "style": {"shape": shape}})
    for group, fill in _KIND_FILL.items():
        sheet.append({"selector": f"node.group-{group}", "style": {"background-color": fill}})
    for state, colour in STATE_COLOURS.items():
        text = "#212121" if state in ("pending", "skipped") else "#ffffff"
        sheet.append(
            {
                "selector": f"node.state-{state}",
                "style": {"background-color": colour, "color": text},
            }
        )
    # Skipped is near-white with a dashed border and grey text: never mistaken for the
    # solid grey of a step still pending.
    sheet.append(
        {
            "selector": "node.state-skipped",
            "style": {"border-style": "dashed", "border-width": 2, "color": "#757575"},
        }
    )
    for status, (colour, line) in _DIFF_BORDERS.items():
        sheet.append(
            {
                "selector": f"node.diff-{status}",
                "style": {"border-width": 4, "border-color": colour, "border-style": line},
            }
        )
    sheet.append({"selector": "node.diff-removed", "style": {"opacity": 0.6}})
    # the editor's palette: items to drag onto the graph, set apart from the steps
    sheet.append(
        {
            "selector": "node.palette",
            "style": {
                "shape": "round-rectangle",
                "width": 104,
                "height": 30,
                "font-size": 12,
                "background-color": "#f5f5f5",
                "border-style": "dashed",
                "border-color": "#78909c",
                "color": "#37474f",
            },
        }
    )
    return sheet


#: The stylesheet every FlowAt graph uses.
STYLESHEET: list[dict[str, Any]] = _stylesheet()
