"""Logic steps cannot block the workflow task (issue 16, item 5), on the real Temporal
dev server.

The review's ``--if`` step comparing ``[[[[0]] * 1000] * 1000] * 1000`` with itself
spun inside one C call in workflow code: Temporal reported a deadlocked workflow task
(TMPRL1101), cancel was ignored. Expressions in workflow code run without a clock, so
only the deterministic budget holds them: each run below must fail quickly with the
expression's error (step, expression, limit). The timeout turns a stuck workflow task
into a failure of the test.
"""

from __future__ import annotations

import pytest

import flowat_kernel as flowat
from flowat_kernel.testing import cells

NESTED = "[[[[0]] * 1000] * 1000] * 1000"
#: Built without ``*``: comparing two of these would make 10**9 comparisons.
SHARED = (
    "[[c for j in range(1000)] for c in "
    "[[b for i in range(1000)] for b in [list(range(1000, 2000))]]][0]"
)


def _failure(workflow_name: str, source: str, parameters: dict[str, object]) -> str:
    flowat.publish(workflow_name, cells=cells(source, parameters="n = 1\nrows = [1]"))
    run = flowat.run(workflow_name, parameters=parameters)
    assert run.status == "failed", run.outputs
    assert run.error is not None
    message = str(run.error["message"])
    assert "ExpressionError" in message, message
    return message


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("source", "limit"),
    [
        (f"%%flowat step gate --if\n{NESTED} == {NESTED}", "max_length"),
        (f"%%flowat step gate --if\n{SHARED} == {SHARED}", "max_operations"),
        (f"%%flowat step gate --if\nsorted([{SHARED}, {SHARED}]) == []", "max_operations"),
        (f"%%flowat step gate --switch\nmax({SHARED}, {SHARED})", "max_operations"),
        (f"%%flowat step gate --if\ncontains([{SHARED}], {SHARED})", "max_operations"),
        # the one-line Set Variable cell that had the worker build ~200 GB of JSON
        ("%%flowat step gate --set\nx = [[['y' * 1000] * 1000] * 1000] * 200", "max_length"),
        (
            "%%flowat step gate --set\na = 'y' * 500\nb = [a for i in range(1000)]\n"
            "c = [b for i in range(1000)]",
            "max_length",
        ),
    ],
    ids=["issue_if", "shared_if", "sorted", "max_switch", "contains", "set_json", "set_lines"],
)
def test_a_logic_step_is_refused_not_stuck(
    temporal: str, workflow_name: str, source: str, limit: str
) -> None:
    message = _failure(workflow_name, source, {"n": 1, "rows": [1]})
    assert "gate" in message and limit in message, message


@pytest.mark.timeout(120)
def test_a_filter_shares_one_allowance_across_its_items(temporal: str, workflow_name: str) -> None:
    """5,000 predicates of 80,000 operations each used to hold the workflow task for
    minutes; together they now have ``max_total_operations``."""
    predicate = "len([1 for a in range(200) for b in range(200)]) > 0"
    source = f"%%flowat step keep --filter rows\n{predicate}"
    message = _failure(workflow_name, source, {"n": 1, "rows": list(range(5_000))})
    assert "keep" in message and "max_total_operations" in message, message
