"""Reading an .ipynb file: plain format-4 files are read with ``json`` alone, and give
exactly the cells nbformat gives; everything else still goes through nbformat."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

from flowat_kernel.compiler import Cell, cells_from_notebook, read_notebook_cells
from flowat_kernel.errors import FlowAtError

HEX_ID = re.compile(r"^[0-9a-f]{8}$")


def by_nbformat(path: Path) -> list[Cell] | str:
    """What reading ``path`` gave before: nbformat's cells, or "error"."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            notebook = nbformat.read(path, as_version=4)
        except Exception:
            return "error"
    return cells_from_notebook(notebook)


def by_flowat(path: Path) -> list[Cell] | str:
    try:
        return read_notebook_cells(path)
    except FlowAtError:
        return "error"


def write(tmp_path: Path, document: Any, name: str = "nb.ipynb") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def document(cells: list[dict[str, Any]], minor: int = 5) -> dict[str, Any]:
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": minor}


def code(source: Any, **extra: Any) -> dict[str, Any]:
    return {"cell_type": "code", "metadata": {}, "outputs": [], "source": source, **extra}


def test_a_notebook_written_by_nbformat_reads_the_same(tmp_path: Path) -> None:
    notebook = new_notebook(
        cells=[
            new_markdown_cell("# Title"),
            new_code_cell("rows = 3", metadata={"tags": ["parameters", "other"]}),
            new_code_cell("%%flowat step a\nx = rows + 1"),
            new_raw_cell("raw text"),
            new_code_cell("%%flowat step b --after a\ny = x * 2\nprint(y)"),
        ]
    )
    path = tmp_path / "written.ipynb"
    nbformat.write(notebook, str(path))
    assert json.loads(path.read_text())["cells"][2]["source"] == [
        "%%flowat step a\n",
        "x = rows + 1",
    ]  # nbformat writes sources as lists of lines
    assert by_flowat(path) == by_nbformat(path)
    assert [c.tags for c in by_flowat(path)] == [(), ("parameters", "other"), (), (), ()]


@pytest.mark.parametrize(
    "cells",
    [
        [code("a = 1", id="one"), code(["b = 2\n", "c = 3"], id="two")],
        [{"source": "no type", "id": "x", "metadata": {}}],
        [
            code(
                "print(1)",
                id="out",
                outputs=[
                    {"output_type": "stream", "name": "stdout", "text": ["1\n", "2\n"]},
                    {"output_type": "display_data", "data": {"text/plain": ["a", "b"]}},
                    {"output_type": "error", "ename": "E", "evalue": "", "traceback": []},
                ],
            )
        ],
        [
            {
                "cell_type": "markdown",
                "id": "md",
                "metadata": {},
                "source": "![x](attachment:x.png)",
                "attachments": {"x.png": {"image/png": ["aGk=", "aGk="]}},
            }
        ],
        [code("a = 1", id="one", metadata={"tags": None})],
        [code("a = 1", id="one", metadata={"tags": "parameters"})],  # a string, as given
        [{"cell_type": "markdown", "id": "m", "metadata": {}}],  # no source at all
        [],
    ],
)
def test_plain_cells_read_as_nbformat_reads_them(tmp_path: Path, cells: list[Any]) -> None:
    path = write(tmp_path, document(cells))
    assert by_flowat(path) == by_nbformat(path)


def test_format_4_4_keeps_cells_without_ids(tmp_path: Path) -> None:
    path = write(tmp_path, document([code("a = 1"), code("b = 2")], minor=4))
    assert (
        [c.cell_id for c in by_flowat(path)]
        == [None, None]
        == [
            c.cell_id
            for c in by_nbformat(path)  # type: ignore[union-attr]
        ]
    )


def test_missing_and_repeated_ids_are_made_as_nbformat_makes_them(tmp_path: Path) -> None:
    cells = [code("a = 1"), code("b = 2", id="same"), code("c = 3", id="same"), code("d = 4")]
    path = write(tmp_path, document(cells))
    ours, theirs = by_flowat(path), by_nbformat(path)
    assert isinstance(ours, list) and isinstance(theirs, list)
    for cells in (ours, theirs):  # new ids are random: compare what they look like
        ids = [c.cell_id for c in cells]
        assert ids[1] == "same", "the first of two equal ids is kept"
        assert len(set(ids)) == 4, "every cell ends with its own id"
        assert all(HEX_ID.match(str(i)) for i in (ids[0], ids[2], ids[3]))
    strip = [(c.source, c.position, c.cell_type, c.tags) for c in ours]
    assert strip == [(c.source, c.position, c.cell_type, c.tags) for c in theirs]


def with_outputs(outputs: Any) -> str:
    return json.dumps(document([code("print(1)", id="a", outputs=outputs)]))


@pytest.mark.parametrize(
    "content",
    [
        "not json at all",
        "\ufeff" + json.dumps(document([code("a = 1", id="a")])),  # a byte-order mark
        json.dumps([1, 2, 3]),
        json.dumps({"cells": "nope", "nbformat": 4, "nbformat_minor": 5}),
        json.dumps({"nbformat": 4, "nbformat_minor": 5}),
        json.dumps({"cells": [], "nbformat": 9, "nbformat_minor": 0}),
        json.dumps({"cells": [], "nbformat": "4", "nbformat_minor": 5}),
        json.dumps(document([code(["a = 1\n", 2], id="a")])),  # a line that is no string
        json.dumps(document([code("a = 1", id="a", metadata=["tags"])])),
        json.dumps(document([code("a = 1", id=["list"])])),
        json.dumps(document(["a cell that is a string"])),
        json.dumps(document([code("a = 1", id="a")], minor="5")),  # type: ignore[arg-type]
        json.dumps({"cells": [code("a = 1", id="a")], "nbformat": 4, "nbformat_minor": 5}),
        json.dumps(document([code("a = 1", id="a", metadata=None)])),
        json.dumps(document([{"source": "no metadata", "id": "x"}])),
        with_outputs([{"output_type": "stream", "text": [1]}]),
        with_outputs([{"output_type": "display_data", "data": [1]}]),
        with_outputs(["text"]),
        with_outputs({"not": "a list"}),
        json.dumps(document([{**code("a", id="a"), "attachments": {"x.png": "data"}}])),
        json.dumps(document([{**code("a", id="a"), "attachments": ["x.png"]}])),
        json.dumps({**document([code("a = 1", id="a")]), "nbformat": 4.0}),
    ],
)
def test_anything_else_goes_through_nbformat(tmp_path: Path, content: str) -> None:
    path = write(tmp_path, content)
    try:
        expected: Any = by_nbformat(path)
    except Exception as exc:  # nbformat read it, but its cells do not convert
        expected = type(exc)
    try:
        found: Any = by_flowat(path)
    except Exception as exc:
        found = type(exc)
    assert found == expected


def test_a_file_that_is_not_utf8_is_not_a_readable_notebook(tmp_path: Path) -> None:
    path = tmp_path / "latin.ipynb"
    path.write_bytes(b'{"cells": [], "nbformat": 4, "nbformat_minor": 5, "x": "\xe9"}')
    with pytest.raises(FlowAtError, match="is not a readable Jupyter notebook"):
        read_notebook_cells(path)


def test_a_version_3_notebook_is_converted_by_nbformat(tmp_path: Path) -> None:
    v3 = {
        "metadata": {"name": ""},
        "nbformat": 3,
        "nbformat_minor": 0,
        "worksheets": [
            {
                "cells": [
                    {"cell_type": "code", "input": "x = 1", "language": "python", "outputs": []},
                    {"cell_type": "markdown", "source": "note"},
                ],
                "metadata": {},
            }
        ],
    }
    path = write(tmp_path, v3)
    found = by_flowat(path)
    assert isinstance(found, list)
    assert [(c.source, c.cell_type) for c in found] == [("x = 1", "code"), ("note", "markdown")]


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(FlowAtError, match="does not exist"):
        read_notebook_cells(tmp_path / "nowhere.ipynb")


def test_reading_a_plain_notebook_does_not_import_nbformat(tmp_path: Path) -> None:
    path = write(tmp_path, document([code("%%flowat step a\nx = 1", id="a")]))
    script = (
        "import sys\nfrom flowat_kernel.compiler import compile_notebook_file\n"
        f"spec = compile_notebook_file({str(path)!r}, 'w')\n"
        "print([s.name for s in spec.steps], 'nbformat' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['a'] False"
