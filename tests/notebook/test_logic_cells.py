"""Logic step cells in a real IPython shell behave as they do in a run, and the notebook
compiles to the same spec as the file."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell


def run(shell: InteractiveShell, source: str) -> Any:
    result = shell.run_cell(source)
    if result.error_in_exec is not None:
        raise result.error_in_exec
    if result.error_before_exec is not None:
        raise result.error_before_exec
    return result.result


def test_logic_cells_evaluate_like_the_workflow(shell: InteractiveShell) -> None:
    run(shell, "amount = 500\norders = [{'id': 1, 'total': 50}, {'id': 2, 'total': 150}]")
    assert run(shell, "%%flowat step big --if\namount > 100") is True
    assert shell.user_ns["big"] is True
    assert run(shell, "%%flowat step lane --switch\n'fast' if big else 'slow'") == "fast"
    run(shell, "%%flowat step totals --set\ncount = length(orders)\nlabel = upper(lane)")
    assert (shell.user_ns["count"], shell.user_ns["label"]) == (2, "FAST")
    picked = run(shell, "%%flowat step picked --filter orders\nitem['total'] > 100")
    assert picked == [{"id": 2, "total": 150}]


def test_when_false_skips_the_cell(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    run(shell, "flag = False")
    run(shell, "%%flowat step never --when flag\nran = True")
    assert "ran" not in shell.user_ns
    assert "skipped" in capsys.readouterr().out


@pytest.mark.parametrize("chunk", ["", " --chunk 2"], ids=["plain", "chunk"])
def test_foreach_and_mappings_in_the_kernel(shell: InteractiveShell, chunk: str) -> None:
    run(shell, "numbers = [3, 1, 2]")
    run(
        shell,
        f"%%flowat step each --foreach numbers{chunk} --in 'scale=10' "
        "--out 'total=sum(scaled)'\nscaled = item * scale + index",
    )
    assert shell.user_ns["scaled"] == [30, 11, 22]
    assert shell.user_ns["total"] == 63


def test_wait_for_takes_the_cells_value_in_the_notebook(shell: InteractiveShell) -> None:
    run(shell, "%%flowat step approval --wait-for approved\n{'ok': True}")
    assert shell.user_ns["approval"] == {"ok": True}


def test_an_escape_attempt_in_a_logic_cell_is_a_usage_error(shell: InteractiveShell) -> None:
    result = shell.run_cell("%%flowat step bad --if\n().__class__.__bases__[0]")
    assert result.error_in_exec is not None
    assert "__class__" in str(result.error_in_exec)
