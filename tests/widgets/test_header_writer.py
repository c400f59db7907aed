"""The step-line writer is the exact inverse of the parser."""

from __future__ import annotations

import pytest

from flowat_kernel.compiler import Cell, compile_cells
from flowat_kernel.compiler.header import parse_step_header
from flowat_kernel.compiler.header_writer import (
    format_duration,
    format_step_header,
    header_from_step,
    step_line,
)

LINES = [
    "step load",
    "step load --retries 0",
    "step load --retries 3 --timeout 30s --local",
    "step slow --timeout 1.5s",
    "step quick --timeout 250ms",
    "step hourly --timeout 2h --after a,b",
    "step risky --untrusted --allow-network --secret api_token --secret other",
    "step child --workflow etl --version 3",
    "step call --action http.request --when 'rows > 0' --merge",
    "step each --foreach 'items[:3]' --concurrency 2 --in 'x=item[\"v\"]' --out 'y=result'",
    "step gate --if",
    "step route --switch",
    "step vars --set",
    "step keep --filter 'rows_list'",
    "step pause --wait 10s",
    "step approve --wait-for approved --timeout 1h",
    "step 'odd-name.v2' --after 'x-1'",
]


@pytest.mark.parametrize("line", LINES)
def test_format_is_the_inverse_of_parse(line: str) -> None:
    header = parse_step_header(line)
    written = format_step_header(header)
    assert parse_step_header(written) == header
    assert step_line(header) == f"%%flowat {written}"


def test_defaults_are_left_out_and_options_come_in_a_fixed_order() -> None:
    header = parse_step_header("step load --local --timeout 60s --retries 4")
    assert format_step_header(header) == "step load --retries 4 --timeout 1m --local"


@pytest.mark.parametrize(
    ("seconds", "text"), [(30, "30s"), (300, "5m"), (3600, "1h"), (0.25, "250ms"), (1.5, "1.5s")]
)
def test_durations_are_written_in_their_shortest_exact_form(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_a_compiled_step_gives_back_the_header_it_came_from() -> None:
    cells = [
        Cell("rows = 3", 1, tags=("parameters",)),
        Cell("%%flowat step load --retries 3 --timeout 30s\nframe = list(range(rows))", 2),
        Cell("%%flowat step check --if\nlen(frame) > 2", 3),
        Cell("%%flowat step each --when check --foreach frame --concurrency 2\nv = item", 4),
        Cell("%%flowat step pause --wait 2s --after each", 5),
        Cell("%%flowat step approval --wait-for ok --timeout 5m", 6),
    ]
    spec = compile_cells(cells, "w")
    for cell, step in zip(cells[1:], spec.steps, strict=True):
        first = cell.source.split("\n", 1)[0]
        assert header_from_step(step) == parse_step_header(first.removeprefix("%%flowat "))
