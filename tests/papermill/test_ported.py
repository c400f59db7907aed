"""papermill's own test assertions, ported to ``--engine flowat``.

From papermill's ``tests/test_execute.py`` (execution, parameters, ``SystemExit``, report
mode, working directory, NotebookNode input) and ``tests/test_cli.py`` (parameter typing,
``--inject-paths``, ``--execution-timeout``, output to stdout, ``--log-output``,
``--stdout-file``, ``--stderr-file``), run on papermill's own notebooks against the real
Temporal dev server. The CLI tests run the installed ``papermill`` command.

``test_sys_exit0`` waits on the step executor recording a clean ``SystemExit``'s value
(until then the cell shows ``SystemExit`` with an empty value).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest
from nbclient.exceptions import CellTimeoutError
from papermill.exceptions import PapermillExecutionError

execute = partial(papermill.execute_notebook, engine_name="flowat", progress_bar=False)


def _load(path: Path) -> Any:
    return nbformat.read(path, as_version=4)


def _source(cell: Any) -> list[str]:
    return str(cell.source).split("\n")


# --- parameters (TestNotebookHelpers) ---------------------------------------------


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("Hello", 'msg = "Hello"'),
        ('"Hello"', r'msg = "\"Hello\""'),
        (r"do\ not\ crash", r'msg = "do\\ not\\ crash"'),
        (r"bar=\"baz\"", r'msg = "bar=\\\"baz\\\""'),
        (r'\\"bar\\"', r'msg = "\\\\\"bar\\\\\""'),
    ],
)
def test_cell_insertion_and_quoted_params(
    temporal: str, papermill_notebooks: Path, tmp_path: Path, value: str, line: str
) -> None:
    out = tmp_path / "out.ipynb"
    execute(str(papermill_notebooks / "simple_execute.ipynb"), str(out), {"msg": value})
    nb = _load(out)
    assert _source(nb.cells[1]) == ["# Parameters", line, ""]
    assert nb.metadata.papermill.parameters == {"msg": value}
    # and the step saw the very string papermill parsed (no second decoding)
    assert nb.cells[2].outputs[0].text == f"{value}\n"


def test_no_tags(temporal: str, papermill_notebooks: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.ipynb"
    execute(str(papermill_notebooks / "no_parameters.ipynb"), str(out), {"msg": "Hello"})
    nb = _load(out)
    assert _source(nb.cells[0]) == ["# Parameters", 'msg = "Hello"', ""]
    assert nb.metadata.papermill.parameters == {"msg": "Hello"}


def test_output_path_of_none(temporal: str, papermill_notebooks: Path) -> None:
    nb = execute(str(papermill_notebooks / "simple_execute.ipynb"), None, {"msg": "Hello"})
    assert nb.metadata.papermill.parameters == {"msg": "Hello"}
    assert nb.cells[2].outputs[0].text == "Hello\n"


def test_notebook_node_input(temporal: str, papermill_notebooks: Path, tmp_path: Path) -> None:
    input_nb = _load(papermill_notebooks / "simple_execute.ipynb")
    out = tmp_path / "output.ipynb"
    execute(input_nb, str(out), {"msg": "Hello"})
    nb = _load(out)
    assert nb.metadata.papermill.parameters == {"msg": "Hello"}
    assert nb.cells[2].outputs[0].text == "Hello\n"
    assert nb.metadata.flowat["workflow"] == "output"  # named after the output file


def test_stale_parameters_are_never_used(
    temporal: str, papermill_notebooks: Path, tmp_path: Path
) -> None:
    """broken1 carries ``metadata.papermill.parameters`` of an earlier run: not this run's."""
    stale = _load(papermill_notebooks / "simple_execute.ipynb")
    stale.metadata["papermill"] = {"parameters": {"msg": "stale"}}
    path = tmp_path / "stale.ipynb"
    nbformat.write(stale, path)
    nb = execute(str(path), str(tmp_path / "out.ipynb"))
    assert nb.cells[1].outputs[0].text == "None\n"
    run = nb.metadata.flowat
    assert run["parameters"] == {"msg": None}


# --- broken notebooks (TestBrokenNotebook1/2) -------------------------------------


def test_broken_notebook_1(temporal: str, papermill_notebooks: Path, tmp_path: Path) -> None:
    path = papermill_notebooks / "broken1.ipynb"
    original = _load(path)
    assert original.cells[0].metadata["tags"] == ["papermill-error-cell-tag"]
    out = tmp_path / "broken1.ipynb"
    with pytest.raises(PapermillExecutionError) as raised:
        execute(str(path), str(out))
    assert (raised.value.ename, raised.value.evalue) == ("AssertionError", "")
    nb = _load(out)
    assert nb.cells[0].cell_type == "markdown"
    assert re.match(
        r'^<span .*<a href="#papermill-error-cell".*In \[2\].*</span>$', nb.cells[0].source
    )
    assert nb.cells[0].metadata["tags"] == ["papermill-error-cell-tag"]
    assert nb.cells[1].cell_type == "markdown"
    assert nb.cells[2].execution_count == 1
    assert nb.cells[3].cell_type == "markdown"
    assert nb.cells[4].cell_type == "markdown"
    assert nb.cells[5].cell_type == "markdown"
    assert re.search('<span id="papermill-error-cell" .*</span>', nb.cells[5].source)
    assert nb.cells[5].metadata["tags"] == ["papermill-error-cell-tag"]
    assert nb.cells[6].execution_count == 2
    assert nb.cells[6].outputs[0].output_type == "error"
    assert nb.cells[7].execution_count is None  # Python 2 syntax: never reached
    tagged = ["papermill-error-cell-tag" in c.metadata.get("tags", []) for c in nb.cells]
    assert sum(tagged) == 2
    run = nb.metadata.flowat
    assert run["status"] == "failed"
    steps = {s.name: s for s in papermill_run(run["run_id"]).record.steps}
    assert steps["cell_2"].attempts == 1  # papermill's semantics: one attempt


def papermill_run(run_id: str) -> Any:
    import flowat_kernel as flowat

    return flowat.get_run(run_id)


def test_broken_notebook_2(temporal: str, papermill_notebooks: Path, tmp_path: Path) -> None:
    out = tmp_path / "broken2.ipynb"
    with pytest.raises(PapermillExecutionError):
        execute(str(papermill_notebooks / "broken2.ipynb"), str(out))
    nb = _load(out)
    assert nb.cells[0].cell_type == "markdown"
    assert re.match(
        r'^<span .*<a href="#papermill-error-cell">.*In \[2\].*</span>$', nb.cells[0].source
    )
    assert nb.cells[1].execution_count == 1
    assert nb.cells[2].cell_type == "markdown"
    assert nb.cells[3].execution_count == 2
    assert nb.cells[3].outputs[-1].output_type == "error"
    assert nb.cells[4].execution_count is None


# --- report mode, validation (TestReportMode, TestNotebookValidation, ...) -----------


def test_report_mode(temporal: str, papermill_notebooks: Path, tmp_path: Path) -> None:
    nb = execute(
        str(papermill_notebooks / "report_mode_test.ipynb"),
        str(tmp_path / "out.ipynb"),
        {"a": 0},
        report_mode=True,
    )
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.metadata.get("jupyter", {}).get("source_hidden") is True
    assert nb.cells[3].outputs[0].text == "1\n"  # sum(a=0, b=1) with the cell's own sum


@pytest.mark.parametrize("name", ["nb_version_4.4.ipynb", "blank-vscode.ipynb"])
def test_output_validates(
    temporal: str, papermill_notebooks: Path, tmp_path: Path, name: str
) -> None:
    out = tmp_path / f"output_{name}"
    execute(str(papermill_notebooks / name), str(out), {"var": "It works"}, kernel_name="python3")
    nbformat.validate(_load(out))


# --- SystemExit (TestSysExit) -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "evalue"),
    [("sysexit.ipynb", ""), ("sysexit0.ipynb", "0"), ("systemexit.ipynb", "")],
    ids=["sys_exit", "sys_exit0", "system_exit"],
)
def test_sys_exit(
    temporal: str, papermill_notebooks: Path, tmp_path: Path, name: str, evalue: str
) -> None:
    out = tmp_path / f"output_{name}"
    execute(str(papermill_notebooks / name), str(out))  # no error raised
    nb = _load(out)
    assert nb.cells[0].cell_type == "code"
    assert nb.cells[0].execution_count == 1
    assert nb.cells[1].execution_count == 2
    assert nb.cells[1].outputs[0].output_type == "error"
    assert nb.cells[1].outputs[0].ename == "SystemExit"
    assert nb.cells[1].outputs[0].evalue == evalue
    assert nb.cells[2].execution_count is None
    assert papermill_run(nb.metadata.flowat["run_id"]).status == "succeeded"


def test_sys_exit1(temporal: str, papermill_notebooks: Path, tmp_path: Path) -> None:
    out = tmp_path / "output_sysexit1.ipynb"
    with pytest.raises(PapermillExecutionError) as raised:
        execute(str(papermill_notebooks / "sysexit1.ipynb"), str(out))
    assert (raised.value.ename, raised.value.evalue) == ("SystemExit", "1")
    nb = _load(out)
    assert nb.cells[0].cell_type == "markdown"
    assert re.match(
        r'^<span .*<a href="#papermill-error-cell".*In \[2\].*</span>$', nb.cells[0].source
    )
    assert nb.cells[1].execution_count == 1
    assert nb.cells[2].cell_type == "markdown"
    assert nb.cells[3].execution_count == 2
    assert nb.cells[3].outputs[0].output_type == "error"
    assert nb.cells[4].execution_count is None


def test_line_magic_error(temporal: str, papermill_notebooks: Path, tmp_path: Path) -> None:
    out = tmp_path / "output_line_magic_error.ipynb"
    with pytest.raises(PapermillExecutionError):
        execute(str(papermill_notebooks / "line_magic_error.ipynb"), str(out))
    nb = _load(out)
    assert nb.cells[0].cell_type == "markdown"
    assert re.match(
        r'^<span .*<a href="#papermill-error-cell".*In \[1\].*</span>$', nb.cells[0].source
    )
    assert nb.cells[0].metadata["tags"] == ["papermill-error-cell-tag"]
    assert nb.cells[2].cell_type == "code"
    assert nb.cells[2].execution_count == 1
    assert nb.cells[3].execution_count is None


# --- working directory (TestCWD) ----------------------------------------------------


def test_execution_respects_cwd_assignment(
    temporal: str, papermill_notebooks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, work = tmp_path / "base", tmp_path / "work"
    base.mkdir()
    work.mkdir()
    shutil.copyfile(papermill_notebooks / "read_check.ipynb", base / "read_check.ipynb")
    (work / "check.txt").write_text("exists", encoding="utf-8")
    monkeypatch.chdir(base)
    nb = execute("read_check.ipynb", "test_output.ipynb", cwd=str(work))
    assert (base / "test_output.ipynb").is_file()
    assert nb.cells[1].outputs[0].text == f"NB_CWD {work}\n"
    with pytest.raises(PapermillExecutionError) as raised:  # and without it, no check.txt
        execute("read_check.ipynb", "test_output.ipynb")
    assert raised.value.ename == "AssertionError"


# --- timeouts -----------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_execution_timeout_bounds_each_cell(temporal: str, tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_code_cell("print('before')"),
        nbformat.v4.new_code_cell("import time\ntime.sleep(60)"),
        nbformat.v4.new_code_cell("print('after')"),
    ]
    path = tmp_path / "slow.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(CellTimeoutError, match="Cell execution timed out"):
        execute(str(path), str(tmp_path / "out.ipynb"), execution_timeout=3)
    out = _load(tmp_path / "out.ipynb")
    assert out.cells[0].outputs[0].text == "before\n"
    assert out.cells[2].execution_count is None and not out.cells[2].outputs


# --- the command line (test_cli) ----------------------------------------------------


def _papermill(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("papermill")), "--no-progress-bar", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=240, cwd=cwd, env=dict(os.environ)
    )


@pytest.mark.timeout(300)
def test_cli_typing_inject_paths_and_stdout(temporal: str, tmp_path: Path) -> None:
    """``-p`` typed as papermill types it, ``-r`` raw, ``--inject-paths``, output to ``-``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    params = nbformat.v4.new_code_cell("name = 'x'\nn = 1\nmsg = None")
    params.metadata["tags"] = ["parameters"]
    show = "print(repr(name), repr(n), repr(msg), repr(PAPERMILL_INPUT_PATH), "
    show += "repr(PAPERMILL_OUTPUT_PATH))"
    nb.cells = [params, nbformat.v4.new_code_cell(show)]
    path = tmp_path / "typed.ipynb"
    nbformat.write(nb, path)
    done = _papermill(
        "--engine", "flowat", str(path), "-", "--inject-paths",
        "-p", "name", "2024", "-p", "n", "5.0", "-r", "msg", "42",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = nbformat.reads(done.stdout, as_version=4)  # stdout holds the notebook and only it
    shown = out.cells[-1].outputs[0].text
    assert shown == f"2024 5.0 '42' {str(path)!r} '-'\n"
    assert out.metadata.papermill.parameters["msg"] == "42"


@pytest.mark.timeout(300)
def test_cli_exit_status_and_output_files(temporal: str, tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_code_cell("import sys\nprint('to out')\nprint('to err', file=sys.stderr)"),
        nbformat.v4.new_code_cell("raise ValueError('bad value')"),
        nbformat.v4.new_code_cell("print('never')"),
    ]
    path = tmp_path / "streams.ipynb"
    nbformat.write(nb, path)
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    done = _papermill(
        "--engine", "flowat", str(path), str(tmp_path / "out.ipynb"), "--log-output",
        "--stdout-file", str(out), "--stderr-file", str(err),
    )  # fmt: skip
    assert done.returncode == 1
    assert "ValueError" in done.stderr and "bad value" in done.stderr
    assert out.read_text() == "to out\n" and err.read_text() == "to err\n"
    assert "to out" in done.stderr and "Executing Cell 1" in done.stderr  # papermill's log
    assert "never" not in done.stdout + done.stderr
    written = _load(tmp_path / "out.ipynb")
    assert json.dumps(written.metadata.papermill["exception"]) == "true"
