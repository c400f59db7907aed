"""``%%flowat step NAME --queue Q`` and a default ``queue``: compiled, hashed, refused."""

from __future__ import annotations

import pytest

from flowat_kernel.compiler import compile_cells
from flowat_kernel.compiler.header import parse_step_header
from flowat_kernel.compiler.header_writer import format_step_header, header_from_step
from flowat_kernel.errors import CompileError, SpecError
from flowat_kernel.spec import WorkflowSpec
from flowat_kernel.spec.model import queue_name
from flowat_kernel.testing import cells


def _spec(*sources: str) -> WorkflowSpec:
    return compile_cells(cells(*sources), "wf")


def test_a_step_is_routed_to_its_queue_and_the_option_round_trips() -> None:
    spec = _spec("%%flowat step a\nx = 1", "%%flowat step b --queue eu-west.gpu\ny = x + 1")
    assert spec.step("a").queue is None
    assert spec.step("b").queue == "eu-west.gpu"
    assert spec.step("b").routed_to(None) == "eu-west.gpu"
    assert spec.step("a").routed_to("default-q") == "default-q"
    header = header_from_step(spec.step("b"))
    assert format_step_header(header).endswith("--queue eu-west.gpu")
    assert parse_step_header(format_step_header(header)).queue == "eu-west.gpu"


def test_the_queue_is_part_of_the_content_hash_and_old_hashes_stay() -> None:
    plain = _spec("%%flowat step a\nx = 1")
    routed = _spec("%%flowat step a --queue gpu\nx = 1")
    assert '"queue"' not in plain.canonical_json()  # versions published before keep their hash
    assert routed.content_hash() != plain.content_hash()
    defaulted = WorkflowSpec.model_validate({**plain.model_dump(), "queue": "gpu"})
    assert defaulted.content_hash() not in (plain.content_hash(), routed.content_hash())
    assert WorkflowSpec.parse(defaulted.canonical_json()) == defaulted


def test_local_and_logic_steps_cannot_be_routed() -> None:
    with pytest.raises(CompileError) as refused:
        _spec("%%flowat step a --local --queue gpu\nx = 1")
    assert "--local" in str(refused.value) and "cannot be routed to --queue gpu" in str(
        refused.value
    )
    with pytest.raises(CompileError) as logic:
        _spec("%%flowat step a\nx = 1", "%%flowat step b --if --queue gpu\nx > 0")
    assert "--queue" in str(logic.value) and "do not apply" in str(logic.value)
    # a workflow-level default queue leaves --local and logic steps on the workflow's worker
    spec = _spec("%%flowat step a --local\nx = 1", "%%flowat step b --if\nx > 0")
    assert spec.step("a").routed_to("gpu") is None
    assert spec.step("b").routed_to("gpu") is None
    with pytest.raises(SpecError, match="cannot be routed"):
        WorkflowSpec.parse(
            {
                "name": "wf",
                "steps": [{"name": "a", "source": "x = 1", "local": True, "queue": "gpu"}],
            }
        )


@pytest.mark.parametrize("bad", ["", "-gpu", ".q", "a b", "q/1", "x" * 201, "é"])
def test_a_bad_queue_name_says_what_to_write(bad: str) -> None:
    with pytest.raises(CompileError, match="--queue") as refused:
        _spec(f"%%flowat step a --queue '{bad}'\nx = 1")
    if not bad.startswith("-"):  # argparse takes '-gpu' for an option: "expected one argument"
        assert "name a task queue" in str(refused.value)
    with pytest.raises(SpecError, match="name a task queue"):
        queue_name(bad)
    with pytest.raises(SpecError):
        WorkflowSpec.parse({"name": "wf", "steps": [{"name": "a", "source": "1"}], "queue": bad})
