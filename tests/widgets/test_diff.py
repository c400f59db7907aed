"""Version diff: classification, source diff, and the highlighted graphs."""

from __future__ import annotations

from flowat_kernel.compiler import Cell, compile_cells
from flowat_kernel.widgets.diff import VersionDiff, diff_specs, source_diff

OLD = [
    Cell("%%flowat step load\nrows = [1, 2, 3]", 1),
    Cell("%%flowat step double\ndoubled = [r * 2 for r in rows]", 2),
    Cell("%%flowat step gone\nunused = 1", 3),
    Cell("%%flowat step report\nreport = len(doubled)", 4),
]
NEW = [
    Cell("%%flowat step load\nrows = [1, 2, 3]", 1),
    Cell("%%flowat step double --retries 4\ndoubled = [r * 3 for r in rows]", 2),
    Cell("%%flowat step report\nreport = len(doubled)", 3),
    Cell("%%flowat step notify --after report\nsent = True", 4),
]


def test_steps_are_classified_with_the_fields_that_changed() -> None:
    old, new = compile_cells(OLD, "w"), compile_cells(NEW, "w")
    diff = diff_specs(old, new)
    assert diff.added == ("notify",)
    assert diff.removed == ("gone",)
    assert set(diff.changed) == {"double"}
    assert set(diff.changed["double"]) == {"source", "retry"}
    assert set(diff.unchanged) == {"load", "report"}
    assert diff_specs(old, old).changed == {} and diff_specs(old, old).added == ()


def test_a_changed_upstream_counts_as_a_change() -> None:
    old = compile_cells([Cell("%%flowat step a\nx = 1", 1), Cell("%%flowat step b\ny = 2", 2)], "w")
    new = compile_cells(
        [Cell("%%flowat step a\nx = 1", 1), Cell("%%flowat step b --after a\ny = 2", 2)], "w"
    )
    assert set(diff_specs(old, new).changed["b"]) == {"after", "upstream"}


def test_source_diff_and_the_widget_highlight_both_sides() -> None:
    old, new = compile_cells(OLD, "w"), compile_cells(NEW, "w")
    text = source_diff(old.step("double"), new.step("double"), "v1", "v2")
    assert "-doubled = [r * 2 for r in rows]" in text
    assert "+doubled = [r * 3 for r in rows]" in text
    view = VersionDiff(old, new, ("v1", "v2"))
    left = {n.id: n.classes for n in view.left.nodes()}
    right = {n.id: n.classes for n in view.right.nodes()}
    assert "diff-removed" in left["gone"] and "diff-changed" in left["double"]
    assert "diff-added" in right["notify"] and "diff-changed" in right["double"]
    assert not any(c.startswith("diff-") for c in right["load"])
    assert "r * 3" in view.details.value and "double: " in view.details.value


def test_a_changed_last_line_shows_as_two_lines() -> None:
    from flowat_kernel.spec import StepSpec

    old = StepSpec(name="s", source="x = 1\ny = x * 2")
    new = StepSpec(name="s", source="x = 1\ny = x * 3")
    lines = source_diff(old, new).splitlines()
    assert lines[-2:] == ["-y = x * 2", "+y = x * 3"]
    assert source_diff(old, old) == ""
