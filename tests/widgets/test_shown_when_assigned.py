"""``w = %flowat editor W`` and ``published = %flowat publish W`` show what they return.

Once: a value the magic showed is not shown again as the cell's result; shown in a later
cell, it displays as usual. Real IPython shell and display machinery.
"""

from __future__ import annotations

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

WIDGET = "application/vnd.jupyter.widget-view+json"


def _shown(shell: InteractiveShell, source: str) -> list[dict[str, object]]:
    with capture_output() as captured:
        result = shell.run_cell(source)
    assert result.success, result.error_in_exec
    return [dict(output.data) for output in captured.outputs]


def test_assigned_graphs_and_publish_results_show_once(
    shell: InteractiveShell, temporal: str, workflow_name: str
) -> None:
    assert shell.run_cell("%%flowat step first\nx = 1").success
    assert shell.run_cell("%%flowat step second\ny = x + 1").success

    [published] = _shown(shell, f"published = %flowat publish {workflow_name}")
    assert "second" in str(published["text/html"]) and "first" in str(published["text/plain"])
    assert shell.user_ns["published"].created

    [editor] = _shown(shell, f"w = %flowat editor {workflow_name}")
    assert WIDGET in editor
    assert type(shell.user_ns["w"]).__name__ == "GraphEditor"

    # not assigned: still once, not twice (the magic's display and the cell's result)
    outputs = _shown(shell, f"%flowat editor {workflow_name}")
    assert len(outputs) == 1 and WIDGET in outputs[0]

    # shown again in a later cell, as any value
    again = _shown(shell, "w")
    assert len(again) == 1 and again[0][WIDGET] == editor[WIDGET]

    # other results are left to IPython: a list of steps is the cell's value, not shown here
    assert _shown(shell, "steps = %flowat steps") == []
