"""Compiling logic steps and step expressions: kinds, dependencies, and clear errors."""

from __future__ import annotations

import pytest

from flowat_kernel.compiler import compile_cells
from flowat_kernel.compiler.header import HeaderError, parse_step_header
from flowat_kernel.errors import CompileError
from flowat_kernel.spec import WorkflowSpec
from flowat_kernel.testing import cells


def _compile(*sources: str, parameters: str | None = None) -> WorkflowSpec:
    return compile_cells(cells(*sources, parameters=parameters), "wf")


def test_logic_kinds_export_their_own_name_and_depend_on_what_they_read() -> None:
    spec = _compile(
        "%%flowat step big --if\namount > limit",
        "%%flowat step lane --switch\n'fast' if big else 'slow'",
        "%%flowat step picked --filter orders\nitem['total'] > limit",
        "%%flowat step totals --set\ncount = length(picked)\nlabel = upper(lane) + str(count)",
        "%%flowat step wait_ok --wait-for approved --timeout 5m",
        parameters="amount = 1\nlimit = 10\norders = []",
    )
    kinds = {s.name: (s.kind, s.exports) for s in spec.steps}
    assert kinds == {
        "big": ("if", ("big",)),
        "lane": ("switch", ("lane",)),
        "picked": ("filter", ("picked",)),
        "totals": ("set", ("count", "label")),
        "wait_ok": ("wait", ("wait_ok",)),
    }
    edges = {(e.source, e.target) for e in spec.edges}
    assert edges == {("big", "lane"), ("picked", "totals"), ("lane", "totals")}
    picked = spec.step("picked")
    assert picked.items == "orders"
    assert {b.name for b in picked.inputs} == {"orders", "limit"}  # not item, not helpers
    assert spec.step("wait_ok").signal == "approved"
    assert spec.step("wait_ok").timeout_seconds == 300


def test_when_foreach_and_mappings_become_dependencies() -> None:
    spec = _compile(
        "%%flowat step load\nrows = [1, 2]\nflag = True",
        "%%flowat step each --when flag --foreach rows --concurrency 3 "
        "--in 'scale=factor * 2' --out 'total=sum(out)'\nout = item * scale + index",
        "%%flowat step after\nfinal = total",
        parameters="factor = 1",
    )
    each = spec.step("each")
    assert each.when == "flag" and each.foreach == "rows" and each.concurrency == 3
    assert [(m.name, m.expression) for m in each.map_in] == [("scale", "factor * 2")]
    assert each.exports == ("out",)  # what its code assigns; --out maps them
    assert [m.name for m in each.map_out] == ["total"]
    assert {(b.name, b.source) for b in each.inputs} == {
        ("flag", "step"),
        ("rows", "step"),
        ("factor", "input"),
    }
    assert spec.step("after").inputs[0].step == "each"


def test_steps_without_the_new_options_keep_their_content_hash() -> None:
    spec = _compile("%%flowat step a\nx = 1")
    assert '"when"' not in spec.canonical_json()
    assert '"foreach"' not in spec.canonical_json()
    changed = _compile("%%flowat step a --when 'True'\nx = 1")
    assert changed.content_hash() != spec.content_hash()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("step a --if --set", "one kind"),
        ("step a --if --retries 2", "do not apply"),
        ("step a --switch --foreach xs", "do not apply"),
        ("step a --wait soon", "--wait"),
        ("step a --wait-for 'not ok'", "identifier"),
        ("step a --concurrency 2", "--foreach"),
        ("step a --foreach xs --concurrency 0", "1 to 256"),
        ("step a --in rows", "NAME=EXPRESSION"),
        ("step a --out x=1 --out x=2", "twice"),
        ("step my-check --if", "identifier"),
        ("step a --allow-network", "--untrusted"),
    ],
)
def test_bad_logic_options_say_what_to_fix(line: str, message: str) -> None:
    with pytest.raises(HeaderError, match=message):
        parse_step_header(line)


def test_expression_errors_name_the_step_cell_and_position() -> None:
    with pytest.raises(CompileError) as caught:
        _compile(
            "%%flowat step ok\nx = 1",
            "%%flowat step bad --if\nx.__class__",
            "%%flowat step worse --when 'x +'\ny = 2",
            "%%flowat step empty --switch\n# nothing here",
        )
    text = str(caught.value)
    assert "bad" in text and "__class__" in text
    assert "worse" in text and "--when" in text
    assert "empty" in text and "empty" in text.split("empty", 1)[1]


def test_unknown_names_in_expressions_are_compile_errors() -> None:
    with pytest.raises(CompileError, match="nowhere"):
        _compile("%%flowat step a --when nowhere\nx = 1")


def test_chunk_compiles_round_trips_and_keeps_other_hashes() -> None:
    from flowat_kernel.compiler.header_writer import format_step_header, header_from_step

    spec = _compile(
        "%%flowat step load\nrows = [1, 2]",
        "%%flowat step each --foreach rows --chunk 50 --local\nout = item * 2",
    )
    each = spec.step("each")
    assert each.chunk == 50 and each.foreach == "rows"
    line = format_step_header(header_from_step(each))
    assert "--chunk 50" in line
    assert parse_step_header(line).chunk == 50
    assert spec.step("load").chunk is None
    plain = _compile(
        "%%flowat step load\nrows = [1, 2]",
        "%%flowat step each --foreach rows --local\nout = item * 2",
    )
    assert '"chunk"' not in plain.canonical_json()
    assert plain.content_hash() != spec.content_hash()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("step a --chunk 10", "--foreach"),
        ("step a --foreach xs --chunk 0", "1 to 10000"),
        ("step a --foreach xs --chunk 10001", "1 to 10000"),
        ("step a --foreach xs --chunk 5 --action http.request", "drop --chunk"),
        ("step a --foreach xs --chunk 5 --workflow child", "drop --chunk"),
        ("step a --foreach xs --chunk 5 --queue gpu", "drop --queue or --chunk"),
        ("step a --if --chunk 5", "do not apply|--foreach"),
    ],
)
def test_bad_chunk_options_say_what_to_fix(line: str, message: str) -> None:
    with pytest.raises(HeaderError, match=message):
        parse_step_header(line)


def test_a_spec_with_chunk_but_no_foreach_is_refused() -> None:
    from pydantic import ValidationError

    from flowat_kernel.spec import StepSpec

    with pytest.raises(ValidationError, match="chunk groups the items"):
        StepSpec(name="a", source="x = 1", chunk=5)
    with pytest.raises(ValidationError, match="chunk groups the items"):
        StepSpec(name="a", source="", kind="action", action="http.request", foreach="xs", chunk=5)
