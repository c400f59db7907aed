"""What a drag on the editor's canvas means: add a step, connect two steps, or move one.

Pure (no widgets). The canvas reports the node that was released and where; these
functions decide what the user asked for, and whether a new edge is allowed.

* a palette item released on the graph adds a step there (dropped on a step, the new
  step runs after that step);
* a step released on another step connects them (the dragged step runs first);
* a step released on empty canvas just moves there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from flowat_kernel.errors import FlowAtError
from flowat_kernel.widgets.canvas_layout import PALETTE_EDGE, Point, node_at

__all__ = [
    "PALETTE_PREFIX",
    "AddStep",
    "Connect",
    "Gesture",
    "Move",
    "Nothing",
    "check_new_edge",
    "interpret_release",
]

#: Palette nodes' ids start with this (step names are identifiers, so never do).
PALETTE_PREFIX = "palette:"


@dataclass(frozen=True)
class AddStep:
    """Add the palette item ``item`` (``code``, ``logic:KIND``, ``action``) at ``at``."""

    item: str
    at: Point
    after: str | None = None


@dataclass(frozen=True)
class Connect:
    """Make ``target`` run after ``source``."""

    source: str
    target: str


@dataclass(frozen=True)
class Move:
    """Step ``step`` now sits at ``at``."""

    step: str
    at: Point


@dataclass(frozen=True)
class Nothing:
    """A release that asks for nothing (a palette item put back, an unknown node)."""


Gesture = AddStep | Connect | Move | Nothing


def interpret_release(node_id: str, at: Point, steps: Mapping[str, Point]) -> Gesture:
    """What releasing node ``node_id`` at ``at`` asks for, given the steps' positions."""
    if node_id.startswith(PALETTE_PREFIX):
        if at[0] < PALETTE_EDGE:
            return Nothing()
        return AddStep(node_id[len(PALETTE_PREFIX) :], at, node_at(at, steps))
    if node_id not in steps:
        return Nothing()
    target = node_at(at, steps, exclude=node_id)
    return Connect(node_id, target) if target is not None else Move(node_id, at)


def _path(start: str, goal: str, edges: Iterable[tuple[str, str]]) -> list[str] | None:
    following: dict[str, list[str]] = {}
    for source, target in edges:
        following.setdefault(source, []).append(target)
    trail: dict[str, str | None] = {start: None}
    queue = [start]
    while queue:
        node = queue.pop(0)
        if node == goal:
            path = [node]
            while (before := trail[path[-1]]) is not None:
                path.append(before)
            return path[::-1]
        for nxt in following.get(node, []):
            if nxt not in trail:
                trail[nxt] = node
                queue.append(nxt)
    return None


def check_new_edge(source: str, target: str, edges: Iterable[tuple[str, str]]) -> None:
    """Refuse an edge ``source -> target`` that is a loop, a duplicate or closes a cycle.

    Raises:
        FlowAtError: what is wrong, with the existing edge or the cycle's path.

    """
    edges = list(edges)
    if source == target:
        raise FlowAtError(f"{source} cannot run after itself; drop it on another step")
    if (source, target) in edges:
        raise FlowAtError(f"{target} already runs after {source}: that edge exists")
    back = _path(target, source, edges)
    if back is not None:
        cycle = " → ".join([*back, target])
        raise FlowAtError(
            f"{target} cannot run after {source}: {source} already runs after {target} "
            f"({cycle}), so the edge would make a cycle"
        )
