"""The graph stylesheet: states a person must tell apart at a glance."""

from __future__ import annotations

from flowat_kernel.widgets.style import STATE_COLOURS, STYLESHEET


def test_skipped_and_pending_steps_look_different() -> None:
    def rgb(colour: str) -> tuple[int, ...]:
        return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))

    pending, skipped = rgb(STATE_COLOURS["pending"]), rgb(STATE_COLOURS["skipped"])
    assert sum(abs(a - b) for a, b in zip(pending, skipped, strict=True)) >= 60
    styles = [r["style"] for r in STYLESHEET if r["selector"] == "node.state-skipped"]
    assert any(style.get("border-style") == "dashed" for style in styles)
    pending_styles = [r["style"] for r in STYLESHEET if r["selector"] == "node.state-pending"]
    assert not any("border-style" in style for style in pending_styles)


def test_an_edge_that_would_pass_behind_a_step_is_drawn_around_it() -> None:
    from flowat_kernel.widgets.canvas_layout import hidden_edges, layered_positions

    # load -> clean -> report in one row, plus load -> report over clean's box
    names = ["load", "clean", "report"]
    edges = [("load", "clean"), ("clean", "report"), ("load", "report")]
    positions = layered_positions(names, edges)
    assert positions["clean"][1] == positions["load"][1] == positions["report"][1]
    hidden = hidden_edges(edges, positions)
    assert ("load", "report") in hidden
    assert ("load", "clean") not in hidden and ("clean", "report") not in hidden
    # moved out of the line, the step no longer hides the edge
    moved = {**positions, "clean": (positions["clean"][0], positions["clean"][1] + 200)}
    assert ("load", "report") not in hidden_edges(edges, moved)
    assert hidden_edges([("load", "ghost")], positions) == set()  # unknown steps: nothing


def test_the_view_marks_hidden_edges_and_labels_are_readable() -> None:
    from flowat_kernel.widgets.graph_model import GraphEdge, GraphNode
    from flowat_kernel.widgets.graph_view import GraphView

    view = GraphView(editable=True)
    nodes = [GraphNode(n, n, "code") for n in ("a", "b", "c")]
    edges = [GraphEdge("a", "b", ("x",)), GraphEdge("b", "c", ("y",)), GraphEdge("a", "c", ("x",))]
    view.show(nodes, edges, positions={"a": (0, 0), "b": (200, 0), "c": (400, 0)})
    shown = {(e["source"], e["target"]): e.get("around", False) for e in view.state()["edges"]}
    assert shown == {("a", "b"): False, ("b", "c"): False, ("a", "c"): True}
    drawn = {e.data["id"]: e.classes for e in view.canvas.graph.edges}
    assert "around" in drawn["a->c"].split() and "around" not in drawn["a->b"].split()
    sizes = {r["selector"]: r["style"].get("font-size") for r in STYLESHEET}
    assert sizes["node"] >= 12 and sizes["edge"] >= 10


def test_a_displayed_graph_is_fitted_again_once_the_page_laid_it_out() -> None:
    import time

    from flowat_kernel.widgets import graph_view
    from flowat_kernel.widgets.graph_view import GraphView

    view = GraphView(height="300px")
    heights: list[str] = []
    view.canvas.layout.observe(lambda change: heights.append(change["new"]), "height")
    view.refit()
    view.refit()
    assert heights == ["calc(300px + 1px)", "300px"]  # each change makes the canvas refit
    graph_view.REFIT_AFTER = (0.01, 0.02)
    try:
        view.displayed()
        deadline = time.monotonic() + 10
        while len(heights) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        graph_view.REFIT_AFTER = (0.5, 2.0)
    assert heights[2:] == ["calc(300px + 1px)", "300px"]
