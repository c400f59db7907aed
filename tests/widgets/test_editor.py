"""The graph editor's model: nodes, edges and classes from a real spec; edits; saving."""

from __future__ import annotations

import pytest

import flowat_kernel as flowat
from flowat_kernel.compiler import Cell, compile_cells
from flowat_kernel.compiler.draft import Draft
from flowat_kernel.errors import FlowAtError
from flowat_kernel.sdk.registry import get_action
from flowat_kernel.widgets.editor import GraphEditor
from flowat_kernel.widgets.graph_model import edges_of, nodes_of

CELLS = [
    Cell("rows = 3", 1, tags=("parameters",)),
    Cell("%%flowat step load --retries 3\nframe = list(range(rows))", 2),
    Cell("%%flowat step check --if\nlen(frame) > 2", 3),
    Cell("%%flowat step total --when check\ntotal = sum(frame)", 4),
    Cell("%%flowat step save --action files.write --after total\npath = 'out.txt'", 5),
    Cell("%%flowat step pause --wait 1s --after save", 6),
]


def spec_of(name: str = "w") -> flowat.WorkflowSpec:
    return compile_cells(CELLS, name)


def test_nodes_are_labelled_and_shaped_by_kind_and_edges_carry_the_names_that_flow() -> None:
    spec = spec_of()
    nodes = {n.id: n for n in nodes_of(spec, {"load": "cell-1"})}
    assert list(nodes) == ["load", "check", "total", "save", "pause"]
    assert nodes["load"].label == "load\ncode" and nodes["load"].cell_id == "cell-1"
    assert "kind-code" in nodes["load"].classes and "group-code" in nodes["load"].classes
    assert nodes["check"].classes[:2] == ("kind-if", "group-logic")
    assert nodes["save"].label == "save\n⚡ files.write"
    assert "group-action" in nodes["save"].classes
    assert "kind-wait" in nodes["pause"].classes
    edges = {(e.source, e.target): e for e in edges_of(spec.edges)}
    assert edges[("load", "check")].label == "frame"
    assert edges[("check", "total")].names == ("check",)
    assert edges[("total", "save")].classes == ("ordering",)  # an --after carries nothing


def test_the_draft_of_a_spec_compiles_back_to_the_same_spec() -> None:
    spec = spec_of()
    assert Draft.from_spec(spec).compile().spec == spec


def test_editing_settings_writes_the_step_line() -> None:
    draft = Draft.from_spec(spec_of())
    step = draft.update("load", retries=5, timeout_seconds=30.0, local=True)
    assert step.line == "%%flowat step load --retries 5 --timeout 30s --local"
    with pytest.raises(FlowAtError, match="--retries"):
        draft.update("load", retries=500)
    assert draft.step("load").header.retries == 5  # a rejected edit changes nothing
    with pytest.raises(FlowAtError, match="logic step"):
        draft.update("check", local=True)


def test_rename_delete_connect_and_disconnect() -> None:
    draft = Draft.from_spec(spec_of())
    draft.rename("save", "write_out")
    assert draft.step("pause").header.after == ("write_out",)
    draft.connect("load", "pause")
    assert draft.step("pause").line == "%%flowat step pause --wait 1s --after write_out,load"
    draft.disconnect("load", "pause")
    spec = draft.compile().spec
    assert spec is not None
    with pytest.raises(FlowAtError, match="that edge is data"):
        draft.disconnect("load", "check", spec)
    draft.delete("write_out")
    assert draft.step("pause").header.after == ()
    assert draft.compile().ok


def test_problems_are_filed_under_the_offending_step() -> None:
    draft = Draft.from_spec(spec_of())
    draft.rename("check", "gate")  # total's --when still reads `check`
    outcome = draft.compile()
    assert not outcome.ok
    assert list(outcome.problems) == ["total"]
    assert "reads 'check'" in outcome.problems["total"][0]


def test_palette_adds_actions_with_their_inputs_and_logic_steps() -> None:
    draft = Draft.from_spec(spec_of())
    step = draft.add_action("files.read", get_action("files.read").input)
    assert step.name == "read" and step.line == "%%flowat step read --action files.read"
    assert "path = ''" in step.body and "# encoding = 'utf-8'" in step.body
    again = draft.add_logic("if")
    assert again.name == "condition" and again.line == "%%flowat step condition --if"
    assert draft.add_logic("wait").name == "pause_2"  # pause is taken
    assert draft.add_logic("switch", "route").line == "%%flowat step route --switch"
    assert draft.compile().ok
    with pytest.raises(FlowAtError, match="not a logic kind"):
        draft.add_logic("loop")


def test_the_editor_marks_errors_on_nodes_and_saving_publishes_a_new_version(
    temporal: str, workflow_name: str
) -> None:
    first = flowat.publish(workflow_name, spec=spec_of(workflow_name))
    editor = GraphEditor(workflow_name)
    state = editor.view.state()
    assert [n["id"] for n in state["nodes"]] == ["load", "check", "total", "save", "pause"]
    assert editor.versions.value == first.number

    editor.apply("check", {"name": "gate"})
    classes = {n.id: n.classes for n in editor.view.nodes()}
    assert "error" in classes["total"] and "error" not in classes["gate"]
    assert editor.save() is None  # never publishes what does not compile
    editor.apply("total", {"when": "gate"})
    assert not any("error" in n.classes for n in editor.view.nodes())

    published = editor.save()
    assert published is not None and published.created
    assert published.number == first.number + 1
    assert [s.name for s in published.version.spec.steps][:3] == ["load", "gate", "total"]
    old = flowat.versions(workflow_name)[-1]
    assert old.number == first.number and old.spec == first.version.spec  # untouched
    assert editor.versions.value == published.number

    editor.add("logic", "set", "extra")
    assert editor.view.state()["nodes"][-1]["id"] == "extra"
