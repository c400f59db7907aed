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
