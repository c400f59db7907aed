"""Where the editor's nodes sit: steps in ranks left to right, the palette in a column.

Pure (no widgets). The editor places every node itself (cytoscape's ``preset`` layout)
so that it knows, in the kernel, which node a dragged node was dropped on: the
browser reports only the dragged node's final position.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "NODE_HEIGHT",
    "NODE_WIDTH",
    "PALETTE_EDGE",
    "Point",
    "hidden_edges",
    "layered_positions",
    "node_at",
    "palette_positions",
]

#: A position on the canvas (cytoscape's model coordinates).
Point = tuple[float, float]

#: The size of a step node (as the stylesheet draws it).
NODE_WIDTH, NODE_HEIGHT = 130.0, 46.0
_RANK_GAP, _ROW_GAP = 200.0, 80.0
_PALETTE_X, _PALETTE_GAP = -240.0, 42.0
#: A node released left of this line is back in the palette (not dropped on the graph).
PALETTE_EDGE = _PALETTE_X + 80.0


def _ranks(names: Sequence[str], edges: Iterable[tuple[str, str]]) -> dict[str, int]:
    known = set(names)
    pairs = [(a, b) for a, b in edges if a in known and b in known and a != b]
    rank = dict.fromkeys(names, 0)
    for _ in range(len(names)):  # longest path; stops after n rounds even with a cycle
        changed = False
        for source, target in pairs:
            if rank[target] < rank[source] + 1:
                rank[target] = rank[source] + 1
                changed = True
        if not changed:
            break
    return rank


def layered_positions(
    names: Sequence[str],
    edges: Iterable[tuple[str, str]],
    placed: Mapping[str, Point] | None = None,
) -> dict[str, Point]:
    """A position for every step: ``placed`` ones stay, the rest go in ranks.

    A step's rank is the length of the longest path to it; ranks are columns from left
    to right, and a column's steps are stacked in their order around the middle.
    """
    placed = placed or {}
    rank = _ranks(names, edges)
    columns: dict[int, list[str]] = {}
    for name in names:
        columns.setdefault(rank[name], []).append(name)
    positions: dict[str, Point] = {}
    for column, members in columns.items():
        for row, name in enumerate(members):
            positions[name] = (column * _RANK_GAP, (row - (len(members) - 1) / 2) * _ROW_GAP)
    positions.update({n: p for n, p in placed.items() if n in positions})
    return positions


def palette_positions(count: int) -> list[Point]:
    """Home positions of ``count`` palette items: a column left of the steps."""
    return [(_PALETTE_X, (i - (count - 1) / 2) * _PALETTE_GAP) for i in range(count)]


def node_at(
    point: Point, positions: Mapping[str, Point], *, exclude: str | None = None
) -> str | None:
    """The step whose box holds ``point`` (the nearest centre when boxes overlap)."""
    x, y = point
    hits = [
        ((px - x) ** 2 + (py - y) ** 2, name)
        for name, (px, py) in positions.items()
        if name != exclude and abs(px - x) <= NODE_WIDTH / 2 and abs(py - y) <= NODE_HEIGHT / 2
    ]
    return min(hits)[1] if hits else None


def _passes_through(start: Point, end: Point, centre: Point, margin: float) -> bool:
    """Whether the straight line from ``start`` to ``end`` crosses the box at ``centre``."""
    (x0, y0), (x1, y1), (cx, cy) = start, end, centre
    half_w, half_h = NODE_WIDTH / 2 + margin, NODE_HEIGHT / 2 + margin
    samples = 32
    for i in range(1, samples):
        t = i / samples
        x, y = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
        if abs(x - cx) <= half_w and abs(y - cy) <= half_h:
            return True
    return False


def hidden_edges(
    edges: Iterable[tuple[str, str]], positions: Mapping[str, Point], margin: float = 4.0
) -> set[tuple[str, str]]:
    """The edges whose straight line would pass behind a third step's box.

    The graph draws them curved around it (a step two ranks after another in the same
    row would otherwise hide the edge between them).
    """
    hidden: set[tuple[str, str]] = set()
    for source, target in edges:
        if source not in positions or target not in positions:
            continue
        start, end = positions[source], positions[target]
        for name, centre in positions.items():
            if name not in (source, target) and _passes_through(start, end, centre, margin):
                hidden.add((source, target))
                break
    return hidden
