"""Steps of the agent's own workflow as tools, on the Temporal dev server.

The loopback fake scripts the model: one call of the tool step that works, then calls
of a tool that is not exposed, with arguments of the wrong type, with an unknown
parameter, and one whose step raises. Only the good and the failing call run (each as
the step's own activity, the failing one retried by the step's own policy); the others
go back to the model as errors, and the run still succeeds.
"""

from __future__ import annotations

import json

import flowat_kernel as flowat
from flowat_kernel.analytics import sql
from flowat_kernel.compiler import Cell
from tests.connectors.fake_openai import FakeOpenAI

TOOL = '''%%flowat step stock --tool --retries 1
def stock(item: str, count: int = 1) -> dict:
    """How many of an item are in stock in the warehouse."""
    if item == "boom":
        raise RuntimeError("the inventory is down")
    return {"item": item, "in_stock": len(item) * count, "warehouse": warehouse}
'''


def _cells(secret: str) -> list[Cell]:
    leak = (
        "%%flowat step leak --tool --retries 0\n"
        "def leak(why: str) -> str:\n"
        '    """Hands over the API key (it must not reach the model)."""\n'
        f"    return 'the key is ' + flowat.secret({secret!r}).reveal()\n"
    )
    return [
        Cell('llm_url = "http://127.0.0.1:9/v1"\nwarehouse = "main"', 1, tags=("parameters",)),
        Cell(TOOL, 2),
        Cell(leak, 5),
        Cell(
            "%%flowat step agent --action llm.agent --retries 2\n"
            "base_url = llm_url\n"
            f"api_key = flowat.secret({secret!r})\n"
            'model = "gpt-4o-mini"\n'
            'prompt = "How many widgets are in stock?"\n'
            'tools = [{"step": "stock"}, {"step": "leak"}]\n',
            3,
        ),
        Cell('%%flowat step report\nanswer = agent["content"]', 4),
    ]


def test_an_agent_calls_a_step_of_its_workflow_as_a_tool(
    fake: FakeOpenAI, api_key: tuple[str, str], workflow_name: str
) -> None:
    fake.script(
        {
            "tool_calls": [
                ("stock", {"item": "widgets"}),
                ("delete_everything", {"really": True}),
                ("stock", {"item": 5}),
                ("stock", {"item": "gears", "warehouse": "other"}),
                ("stock", {"item": "boom", "count": 2}),
                ("leak", {"why": "curiosity"}),
            ]
        },
        {"content": "There are 7 widgets."},
    )
    published = flowat.publish(workflow_name, cells=_cells(api_key[0]))
    assert published.version.spec.step("stock").tool
    run = flowat.run(workflow_name, parameters={"llm_url": fake.base_url})

    assert run.status == "succeeded", run.error
    assert run.outputs["report"]["answer"] == "There are 7 widgets."
    result = run.outputs["agent"]["agent"]
    assert (result["model_calls"], result["tool_calls"]) == (2, 6)

    # The model was shown the step's function: its typed parameters and docstring.
    shown, _ = fake.requests[0].json()["tools"]
    assert shown["function"]["name"] == "stock"
    assert shown["function"]["description"] == "How many of an item are in stock in the warehouse."
    parameters = shown["function"]["parameters"]
    assert parameters["properties"] == {
        "item": {"type": "string"},
        "count": {"type": "integer", "default": 1},
    }
    assert parameters["required"] == ["item"]

    # What each call gave back to the model, in order.
    answers = [m["content"] for m in fake.requests[1].json()["messages"] if m["role"] == "tool"]
    assert json.loads(answers[0]) == {"item": "widgets", "in_stock": 7, "warehouse": "main"}
    assert answers[1].startswith("error: there is no tool 'delete_everything'")
    assert "the tools are: stock" in answers[1]
    assert "item must be string, not 5" in answers[2]
    assert "unknown parameters warehouse" in answers[3]
    assert answers[4].startswith("error: the tool failed after its retries")
    assert "the inventory is down" in answers[4]
    # A result holding a secret the step revealed is not handed to the model.
    assert answers[5].startswith("error: leak's result holds a secret value")
    assert api_key[1] not in json.dumps(fake.requests[1].json())
    assert api_key[1] not in json.dumps(run.to_json(), default=str)

    # Only the two calls that fit ran (three attempts: the failing one was retried by the
    # step's own --retries 1); the step's record shows the last call.
    events = sql(
        "SELECT event, count(*) FROM events "
        f"WHERE run_id = '{run.run_id}' AND step = 'stock' GROUP BY event"
    ).fetchall()
    assert dict(events) == {
        "step_started": 3,
        "step_succeeded": 1,
        "step_retried": 1,
        "step_failed": 1,
    }
    steps = {s.name: s for s in flowat.get_run(run.run_id).record.steps}
    assert steps["stock"].status == "failed" and steps["stock"].attempts == 2
    assert "the inventory is down" in steps["stock"].error["message"]
    assert steps["agent"].status == "succeeded"
