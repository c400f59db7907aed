"""Drag and drop in the graph editor, with the mouse, in a real JupyterLab in Chromium.

The notebook publishes two independent steps and opens the editor. The mouse drags the
palette's ``if`` item onto empty canvas (a new step), then drags step ``second`` onto
the new step (an edge), clicks the new step and writes it out as a new cell; the saved
notebook file holds that cell. Node positions are read from the page's cytoscape
instance only to aim the mouse; every change is made by real mouse events.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from tests.browser.conftest import ARTIFACTS, Lab
from tests.browser.test_graph_in_jupyterlab import _graph, _run_cell, _start_kernel

# where a node is on the page: cytoscape's rendered position plus its container's place
_WHERE = """(id) => {
    const holder = [...document.querySelectorAll('.jp-OutputArea-output *')]
        .find(e => e._cyreg && e._cyreg.cy);
    const node = holder && holder._cyreg.cy.getElementById(id);
    if (!node || node.length === 0) return null;
    const box = holder.getBoundingClientRect(), at = node.renderedPosition();
    return {x: box.left + at.x, y: box.top + at.y};
}"""

# the page position of a canvas point given in the editor's model coordinates
_POINT = """([x, y]) => {
    const holder = [...document.querySelectorAll('.jp-OutputArea-output *')]
        .find(e => e._cyreg && e._cyreg.cy);
    const cy = holder._cyreg.cy, box = holder.getBoundingClientRect();
    return {x: box.left + x * cy.zoom() + cy.pan().x, y: box.top + y * cy.zoom() + cy.pan().y};
}"""

# whether every node and edge of the editor's graph is drawn inside its canvas
_ALL_INSIDE = """() => {
    const holder = [...document.querySelectorAll('.jp-OutputArea-output *')]
        .find(e => e._cyreg && e._cyreg.cy);
    if (!holder) return false;
    const box = holder._cyreg.cy.elements().renderedBoundingBox();
    return box.x1 >= 0 && box.y1 >= 0
        && box.x2 <= holder.clientWidth && box.y2 <= holder.clientHeight;
}"""


def _notebook(workflow: str) -> Any:
    cells = [
        "%load_ext flowat_kernel",
        "%%flowat step first\nx = 1",
        "%%flowat step second\ny = 2",
        f"%flowat publish {workflow}",
        f"ed = %flowat editor {workflow}\ned",
    ]
    notebook = new_notebook(cells=[new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.metadata["kernelspec"]["language"] = "python"
    return notebook


def _drag(page: Any, start: dict[str, float], end: dict[str, float]) -> None:
    page.mouse.move(start["x"], start["y"])
    page.mouse.down()
    page.mouse.move(start["x"] + 8, start["y"] + 8, steps=3)
    page.mouse.move(end["x"], end["y"], steps=12)
    page.mouse.up()


def _wait_for_graph(page: Any, check: str) -> dict[str, Any]:
    page.wait_for_function(
        """(check) => {
            const found = [...document.querySelectorAll('pre.flowat-graph-state')]
                .filter(e => (e.dataset.graph || '').startsWith('editor:'));
            if (!found.length) return false;
            const graph = JSON.parse(found[found.length - 1].textContent);
            return new Function('graph', 'return ' + check)(graph);
        }""",
        arg=check,
        timeout=30_000,
    )
    return _graph(page, "editor:")


def test_dragging_a_palette_item_and_an_edge_with_the_mouse(jupyterlab: Lab, browser: Any) -> None:
    workflow = f"drag_{uuid.uuid4().hex[:8]}"
    path = jupyterlab.root / "drag.ipynb"
    nbformat.write(_notebook(workflow), path)
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    try:
        page.goto(jupyterlab.notebook_url("drag.ipynb"))
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        page.wait_for_selector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000
        )
        _start_kernel(page)
        for index in range(1, 5):
            _run_cell(page, index)
        graph = _wait_for_graph(page, "graph.nodes.length === 2")
        assert {n["id"] for n in graph["nodes"]} == {"first", "second"} and not graph["edges"]
        page.wait_for_function(f"() => ({_WHERE})('palette:logic:if') !== null", timeout=30_000)
        # the whole graph, palette included, fits the canvas once the page laid it out
        page.wait_for_function(_ALL_INSIDE, timeout=15_000)
        page.screenshot(path=str(ARTIFACTS / "editor-drag-before.png"), full_page=True)

        # 1. the palette's `if` dragged onto empty canvas, between the palette and the steps
        _drag(
            page,
            page.evaluate(_WHERE, "palette:logic:if"),
            page.evaluate(_POINT, [-100, 90]),
        )
        graph = _wait_for_graph(page, "graph.nodes.some(n => n.id === 'condition')")
        condition = next(n for n in graph["nodes"] if n["id"] == "condition")
        assert "kind-if" in condition["classes"] and not graph["edges"]
        x, y = graph["positions"]["condition"]
        assert -160 < x < -40 and 30 < y < 150, graph["positions"]  # where it was dropped
        page.wait_for_function(f"() => ({_WHERE})('condition') !== null", timeout=30_000)

        # 2. step `second` dragged onto the new step: the new step runs after it
        _drag(page, page.evaluate(_WHERE, "second"), page.evaluate(_WHERE, "condition"))
        graph = _wait_for_graph(page, "graph.edges.length === 1")
        assert graph["edges"] == [{"source": "second", "target": "condition", "names": []}]
        changes = page.locator(".flowat-editor-changes").last
        assert changes.get_attribute("data-unsaved") == "2"
        assert "unsaved changes (2)" in changes.inner_text()
        page.screenshot(path=str(ARTIFACTS / "editor-drag-after.png"), full_page=True)

        # 3. click the new step and write it out as a new cell
        page.wait_for_function(f"() => ({_WHERE})('condition') !== null", timeout=30_000)
        where = page.evaluate(_WHERE, "condition")
        page.mouse.click(where["x"], where["y"])
        button = page.locator(".jp-OutputArea-output button", has_text="Write as cell")
        button.wait_for(state="visible", timeout=30_000)
        cut_off = page.evaluate(  # the side panel's fields are not cut off
            """() => {
                const out = [...document.querySelectorAll('.jp-OutputArea-output')]
                    .find(o => o.querySelector('pre.flowat-graph-state'));
                const edge = out.getBoundingClientRect().right;
                return [...out.querySelectorAll('button, input, textarea, select')]
                    .filter(e => e.offsetParent !== null)
                    .filter(e => e.getBoundingClientRect().right > edge + 1)
                    .map(e => `${e.tagName} ${e.textContent || e.placeholder} `
                        + `${Math.round(e.getBoundingClientRect().right)} > ${edge}`);
            }"""
        )
        assert cut_off == []
        button.click()
        page.wait_for_function(
            "() => JSON.parse(document.body.dataset.flowatCellInsert || '{}').inserted === true",
            timeout=30_000,
        )
        report = json.loads(page.evaluate("() => document.body.dataset.flowatCellInsert"))
        source = "%%flowat step condition --if --after second\nTrue"
        assert report["source"] == source and report["index"] == 3  # after the step cells
        cell = page.locator(".jp-Notebook .jp-Cell[data-windowed-list-index='3'] .cm-content")
        assert cell.inner_text() == source

        # the cell is in the notebook's document: saving writes it to the file
        page.keyboard.press("Escape")
        page.keyboard.press("Control+s")
        page.wait_for_function("() => !document.querySelector('.jp-mod-dirty')", timeout=30_000)
        saved = [c.source for c in nbformat.read(path, as_version=4).cells]
        assert saved[3] == source and saved.count(source) == 1, saved
        assert saved[:3] + saved[4:6] == [c.source for c in _notebook(workflow).cells]
        page.screenshot(path=str(ARTIFACTS / "editor-drag-written.png"), full_page=True)
    finally:
        page.screenshot(path=str(ARTIFACTS / "editor-drag-final.png"), full_page=True)
        page.close()
