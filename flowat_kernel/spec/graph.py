"""Small, pure graph helpers over step names (cycle search, topological order)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["find_cycle", "topological_order"]


def find_cycle(nodes: Sequence[str], edges: Iterable[tuple[str, str]]) -> list[str] | None:
    """Return one cycle as ``[a, b, ..., a]``, or ``None`` when the graph is acyclic."""
    children: dict[str, list[str]] = {n: [] for n in nodes}
    for source, target in edges:
        children.setdefault(source, []).append(target)
        children.setdefault(target, [])
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(children, white)
    for root in children:
        if colour[root] != white:
            continue
        path: list[str] = [root]
        stack = [iter(children[root])]
        colour[root] = grey
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                colour[path.pop()] = black
                continue
            if colour[child] == grey:
                return [*path[path.index(child) :], child]
            if colour[child] == white:
                colour[child] = grey
                path.append(child)
                stack.append(iter(children[child]))
    return None


def topological_order(nodes: Sequence[str], edges: Iterable[tuple[str, str]]) -> list[str]:
    """Order ``nodes`` so every edge points forward, keeping the given order among ties."""
    edge_list = list(edges)
    indegree = dict.fromkeys(nodes, 0)
    children: dict[str, list[str]] = {n: [] for n in nodes}
    for source, target in edge_list:
        indegree[target] += 1
        children[source].append(target)
    position = {n: i for i, n in enumerate(nodes)}
    ready = sorted((n for n in nodes if indegree[n] == 0), key=position.__getitem__)
    order: list[str] = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for child in children[node]:
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
                ready.sort(key=position.__getitem__)
    if len(order) != len(nodes):
        raise ValueError("graph has a cycle")
    return order
