"""Dragging on the editor's canvas: what a drop or a drag-connect does to the draft.

The canvas reports a released node and its final position (as cytoscape's
``dragfree`` event does in the browser); these tests release nodes through the same
entry point and check the steps, edges, cells, undo and the unsaved-changes count.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell
from nbformat.v4 import new_code_cell, new_notebook

import flowat_kernel as flowat
from flowat_kernel.errors import FlowAtError
from flowat_kernel.notebook import editor_magics
from flowat_kernel.testing import cells
from flowat_kernel.widgets.canvas_layout import PALETTE_EDGE, layered_positions, node_at
from flowat_kernel.widgets.cell_sync import insert_script
from flowat_kernel.widgets.editor import GraphEditor
from flowat_kernel.widgets.gestures import (
    AddStep,
    Connect,
    Move,
    Nothing,
    check_new_edge,
    interpret_release,
)

STEPS = {"load": (0.0, 0.0), "clean": (200.0, 0.0), "report": (400.0, 0.0)}


@pytest.mark.parametrize(
    ("node", "at", "expected"),
    [
        ("palette:logic:if", (150.0, 120.0), AddStep("logic:if", (150.0, 120.0), None)),
        ("palette:code", (205.0, 10.0), AddStep("code", (205.0, 10.0), "clean")),
        ("palette:action", (PALETTE_EDGE - 1, 0.0), Nothing()),  # put back in the palette
        ("load", (390.0, -15.0), Connect("load", "report")),
        ("load", (100.0, 100.0), Move("load", (100.0, 100.0))),
        ("load", (5.0, 5.0), Move("load", (5.0, 5.0))),  # on itself: a small move
        ("gone", (200.0, 0.0), Nothing()),
    ],
)
def test_what_a_release_asks_for(node: str, at: tuple[float, float], expected: object) -> None:
    assert interpret_release(node, at, STEPS) == expected


def test_node_boxes_and_ranks() -> None:
    assert node_at((264.0, 22.0), STEPS) == "clean"  # inside the 130 x 46 box
    assert node_at((266.0, 0.0), STEPS) is None and node_at((200.0, 24.0), STEPS) is None
    positions = layered_positions(["a", "b", "c", "d"], [("a", "b"), ("a", "c"), ("b", "d")])
    assert positions["a"][0] < positions["b"][0] == positions["c"][0] < positions["d"][0]
    assert positions["b"][1] != positions["c"][1]
    kept = layered_positions(["a", "b"], [("a", "b"), ("b", "a")], {"b": (7.0, 8.0)})
    assert kept["b"] == (7.0, 8.0) and set(kept) == {"a", "b"}  # a cycle still ends


def test_new_edges_that_loop_repeat_or_close_a_cycle_are_refused() -> None:
    edges = [("load", "clean"), ("clean", "report")]
    check_new_edge("load", "report", edges)  # a shortcut is fine
    with pytest.raises(FlowAtError, match="cannot run after itself"):
        check_new_edge("load", "load", edges)
    with pytest.raises(FlowAtError, match="clean already runs after load: that edge exists"):
        check_new_edge("load", "clean", edges)
    with pytest.raises(FlowAtError, match=r"load → clean → report → load.*cycle"):
        check_new_edge("report", "load", edges)


def _publish(name: str) -> None:
    flowat.publish(
        name,
        cells=cells(
            "%%flowat step load\nrows = [1, 2]",
            "%%flowat step clean\nkept = [r for r in rows if r]",
            "%%flowat step report\ntotal = len(kept)",
        ),
    )


def _edges(editor: GraphEditor) -> set[tuple[str, str]]:
    return {(e["source"], e["target"]) for e in editor.view.state()["edges"]}


def test_drops_and_drag_connects_edit_the_draft_and_can_be_undone(
    temporal: str, workflow_name: str
) -> None:
    _publish(workflow_name)
    editor = GraphEditor(workflow_name)
    state = editor.view.state()
    assert state["palette"][0] == "palette:code" and "palette:logic:if" in state["palette"]
    assert editor.unsaved == 0 and "unsaved changes" not in editor.changes.value
    report = editor.view.positions["report"]

    # a palette item dropped on empty canvas: a new step where it was dropped
    editor.view.release("palette:logic:set", (report[0], report[1] + 150))
    assert editor.draft.names[-1] == "values" and editor.unsaved == 1
    assert editor.view.positions["values"] == (report[0], report[1] + 150)
    assert "unsaved changes (1)" in editor.changes.value
    assert editor.form.step is not None and editor.form.step.name == "values"
    picked = [n["id"] for n in editor.view.state()["nodes"] if "picked" in n["classes"]]
    assert picked == ["values"]  # the step in the side panel is highlighted, alone
    editor.select("load")
    picked = [n["id"] for n in editor.view.state()["nodes"] if "picked" in n["classes"]]
    assert picked == ["load"]

    # dropped on a step: the new step runs after it
    editor.view.release("palette:code", report)
    assert editor.draft.names[-1] == "step" and ("report", "step") in _edges(editor)

    # a step dragged onto another: the other runs after it (an --after)
    editor.view.release("values", editor.view.positions["step"])
    assert ("values", "step") in _edges(editor)
    assert editor.draft.step("step").header.after == ("report", "values")
    assert editor.unsaved == 3 and editor.outcome.ok

    # a cycle and a duplicate are refused with a message; nothing changes
    before = [s.line for s in editor.draft.steps]
    load = editor.view.positions["load"]
    editor.view.release("report", load)
    assert "cycle" in editor.status.value and "load → clean → report → load" in editor.status.value
    editor.view.release("load", editor.view.positions["clean"])
    assert "that edge exists" in editor.status.value
    assert [s.line for s in editor.draft.steps] == before and editor.unsaved == 3
    assert editor.view.positions["load"] == load  # the dragged node went back

    # a move is no edit; undo takes back the last edits one by one
    report = editor.view.positions["report"]
    editor.view.release("report", (report[0], report[1] - 90))
    assert editor.placed["report"] == (report[0], report[1] - 90) and editor.unsaved == 3
    assert editor.undo() == "connect values → step"
    assert ("values", "step") not in _edges(editor) and editor.unsaved == 2
    assert editor.undo() == "add code" and "step" not in editor.draft.names
    published = editor.save()
    assert published is not None and published.created and editor.unsaved == 0
    assert [s.name for s in published.version.spec.steps] == ["load", "clean", "report", "values"]
    assert editor.undo() is None and "nothing to undo" in editor.status.value


def test_the_action_item_adds_the_action_chosen_in_the_list(
    temporal: str, workflow_name: str
) -> None:
    _publish(workflow_name)
    editor = GraphEditor(workflow_name)
    editor.palette.choice.value = "action:files.read"
    editor.view.release("palette:action", (0.0, 200.0))
    assert editor.draft.step("read").header.action == "files.read"
    editor.palette.choice.value = "logic:if"
    with pytest.raises(FlowAtError, match="choose an action"):
        editor.drop("action", (0.0, 300.0))
    with pytest.raises(FlowAtError, match="not a palette group"):
        editor.drop("loop", (0.0, 300.0))
    with pytest.raises(FlowAtError, match="not a logic kind"):
        editor.drop("logic:loop", (0.0, 300.0))
    assert editor.unsaved == 1 and editor.draft.names[-1] == "read"


def test_edges_and_new_steps_reach_the_cells(
    shell: InteractiveShell, temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    path = tmp_path / "nb.ipynb"
    notebook_cells = [
        new_code_cell("%%flowat step first\nx = 1"),
        new_code_cell("%%flowat step second\ny = 2"),
        new_code_cell("print('not a step')"),
    ]
    nbformat.write(new_notebook(cells=notebook_cells), path)
    for cell in notebook_cells[:2]:
        assert shell.run_cell(cell.source, cell_id=cell.id).success
    assert shell.run_cell(f"%flowat publish {workflow_name}").success
    magics = shell.magics_manager.registry["FlowAtMagics"]
    editor = editor_magics.editor_command(magics, [workflow_name, "--notebook", str(path)])
    assert isinstance(editor, GraphEditor)

    # dragging first onto second writes second's new line to its cell
    editor.view.release("first", editor.view.positions["second"])
    sources = [c.source for c in nbformat.read(path, as_version=4).cells]
    assert sources[1] == "%%flowat step second --after first\ny = 2"
    editor.undo()  # and undo writes the old line back
    assert nbformat.read(path, as_version=4).cells[1].source == "%%flowat step second\ny = 2"
    assert "undone: connect first → second" in editor.status.value

    # a step dropped after second, written out as a new cell after the last step cell
    editor.view.release("palette:logic:if", editor.view.positions["second"])
    source = editor.write_cell("condition")
    assert source == "%%flowat step condition --if --after second\nTrue"
    sources = [c.source for c in nbformat.read(path, as_version=4).cells]
    assert sources == [
        "%%flowat step first\nx = 1",
        "%%flowat step second\ny = 2",
        source,
        "print('not a step')",
    ]
    with pytest.raises(FlowAtError, match="already has a cell"):
        editor.write_cell("condition")
    editor.undo()  # the graph forgets the step, the cell stays: the editor says so
    assert "condition" not in editor.draft.names
    assert "condition was written out as a cell: delete that cell too" in editor.status.value
    editor.view.release("palette:logic:if", editor.view.positions["second"])
    assert shell.run_cell("%flowat steps").result == ["first", "second", "condition"]
    published = shell.run_cell(f"%flowat publish {workflow_name}").result
    assert published.created
    assert [s.name for s in published.version.spec.steps] == ["first", "second", "condition"]

    script = insert_script("%%flowat step a\nx = '</script>'")
    assert json.dumps("%%flowat step a\nx = '</script>'") in script  # JSON-quoted
    assert "startsWith('%%flowat step ')" in script
