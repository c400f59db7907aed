"""``%%flowat step NAME --tool``: what compiles, and the clear errors for what does not."""

from __future__ import annotations

import pytest

from flowat_kernel.compiler import Cell, compile_cells
from flowat_kernel.errors import CompileError

PARAMS = Cell("region = 'eu'", 1, tags=("parameters",))
TOOL = (
    "%%flowat step price --tool\n"
    'def price(sku: str, qty: int = 1) -> float:\n    """Price."""\n    return 2.5 * qty'
)


def _compile(*sources: str) -> None:
    compile_cells([PARAMS, *(Cell(s, i) for i, s in enumerate(sources, 2))], "w")


def test_a_tool_step_compiles_with_no_edges_and_reads_parameters() -> None:
    spec = compile_cells(
        [
            PARAMS,
            Cell("%%flowat step setup\nimport math\nrate = 2", 2),
            Cell(
                "%%flowat step price --tool\ndef price(sku: str) -> float:\n"
                "    return math.sqrt(4) if region == 'eu' else 0.0",
                3,
            ),
        ],
        "w",
    )
    tool = spec.step("price")
    assert tool.tool and tool.prelude == ("import math",)  # code is copied, no edge
    assert [b.name for b in tool.inputs] == ["region"]
    assert not [e for e in spec.edges if "price" in (e.source, e.target)]


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        (["%%flowat step price --tool\nx = 1"], "add `def price(param: str, ...):`"),
        (
            ["%%flowat step price --tool\ndef price(sku):\n    return 1"],
            "parameter 'sku' of a tool needs a type",
        ),
        (["%%flowat step price --tool\ndef price(*args: str):\n    return 1"], "drop *args"),
        (
            [
                "%%flowat step a\nrate = 2",
                "%%flowat step price --tool\ndef price(sku: str):\n    return rate",
            ],
            "reads 'rate' from step 'a'",
        ),
        ([TOOL, "%%flowat step b\ny = price('x')"], "from --tool step 'price'"),
        ([TOOL, "%%flowat step b --after price\ny = 1"], "runs --after --tool step 'price'"),
        (
            ["%%flowat step price --tool --action http.request\nurl = 'x'"],
            "--tool makes a step an agent's tool",
        ),
        (["%%flowat step my-price --tool\ndef f(): pass"], "is not a Python identifier"),
    ],
)
def test_bad_tool_steps_do_not_compile(sources: list[str], message: str) -> None:
    with pytest.raises(CompileError) as caught:
        _compile(*sources)
    assert message in str(caught.value)


def test_arguments_are_checked_against_the_parameters() -> None:
    from flowat_kernel.ai.step_tools import check_arguments
    from flowat_kernel.compiler.tool_steps import tool_signature

    schema = tool_signature(
        "def f(n: int, x: float = 1.0, on: bool = False, tags: list = [], o: dict = {}):\n"
        "    return n",
        "f",
    )
    assert check_arguments(schema, {"n": 3, "x": 2, "on": True, "tags": ["a"], "o": {}}) is None
    assert check_arguments(schema, {"n": True}) == "n must be integer, not true"
    assert check_arguments(schema, {"n": 1.5}) == "n must be integer, not 1.5"
    assert check_arguments(schema, {"x": 1}) == "missing n"
    assert "unknown parameters y" in str(check_arguments(schema, {"n": 1, "y": 2}))


def test_a_step_tool_takes_no_secret_in_its_defaults(temporal: str) -> None:
    import flowat_kernel as flowat
    from flowat_kernel.ai.agent import AgentInput
    from flowat_kernel.ai.turns import make_plan
    from flowat_kernel.sdk.errors import ActionError

    params = AgentInput(
        model="m",
        prompt="hi",
        tools=[{"step": "price", "defaults": {"token": flowat.secret("anything")}}],
    )
    with pytest.raises(ActionError, match="reads its secrets itself"):
        make_plan(params, None, lambda name: {"type": "object", "properties": {}})
    with pytest.raises(ActionError, match="step tools run in workflow runs"):
        make_plan(AgentInput(model="m", prompt="hi", tools=[{"step": "price"}]))
