"""Step code runs as a notebook cell runs (issue 17), on the real Temporal dev server.

IPython's transforms (line magics, ``!`` commands, ``%time``, ``%matplotlib inline``);
what a notebook shows stored with the step as nbformat outputs (streams apart, the last
expression's mime bundle, ``display()``, images, warnings, logging), masked;
``SystemExit`` and ``KeyboardInterrupt`` as a notebook has them, with the user's own
traceback; exports that cannot travel left out unless a later step reads them.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import nbformat
import pytest

import flowat_kernel as flowat
from flowat_kernel.testing import cells


def _step(run: Any, name: str) -> Any:
    return {s.name: s for s in run.record.steps}[name]


def _streams(display: list[dict[str, Any]], name: str) -> str:
    return "".join(o["text"] for o in display if o["output_type"] == "stream" and o["name"] == name)


def test_a_step_shows_what_a_notebook_shows_in_order(temporal: str, workflow_name: str) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step show\n"
            "import sys, warnings, logging, subprocess\n"
            "import pandas as pd\n"
            "from IPython.display import HTML\n"
            "print('to stdout')\n"
            "print('to stderr', file=sys.stderr)\n"
            "sys.stdout.write('written\\n')\n"
            "warnings.warn('mind the gap')\n"
            "logging.getLogger('pipeline').warning('a log record')\n"
            "subprocess.run(['echo', 'from a subprocess'], check=True)\n"
            "display(HTML('<b>bold</b>'))\n"
            "frame = pd.DataFrame({'a': [1, 2]})\n"
            "display(frame)\n"
            "rows = len(frame)\n"
            "frame",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    step = _step(run, "show")
    display = step.display
    assert display is not None
    kinds = [o["output_type"] for o in display]
    # Streams apart, rich outputs where they happened, the result last.
    assert kinds[-3:] == ["display_data", "display_data", "execute_result"], kinds
    assert display[-3]["data"]["text/html"] == "<b>bold</b>"
    assert "<table" in display[-2]["data"]["text/html"]
    result = display[-1]
    assert "<table" in result["data"]["text/html"] and "text/plain" in result["data"]
    stdout, stderr = _streams(display, "stdout"), _streams(display, "stderr")
    assert "to stdout\n" in stdout and "written\n" in stdout
    assert "from a subprocess\n" in stdout
    assert "to stderr" in stderr and "to stderr" not in stdout
    assert "UserWarning: mind the gap" in stderr
    assert "a log record" in stderr
    # The outputs are valid nbformat, as a code cell's.
    cell = nbformat.v4.new_code_cell(outputs=display)  # type: ignore[no-untyped-call]
    notebook = nbformat.v4.new_notebook(cells=[cell])  # type: ignore[no-untyped-call]
    nbformat.validate(notebook)
    # The log keeps the plain text, as before.
    assert "to stdout" in (step.logs or "") and "to stderr" in (step.logs or "")
    assert run.outputs["show"]["rows"] == 2


def test_magics_and_shell_commands_run_as_ipython_runs_them(
    temporal: str, workflow_name: str
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step magic\n"
            "%matplotlib inline\n"
            "import matplotlib.pyplot as plt\n"
            "%time total = sum(range(10))\n"
            "!echo shell-says-hi\n"
            "plt.plot([1, 2, 3])\n"
            "plt.show()",
            "%%flowat step after\ndoubled = total * 2",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    assert run.outputs["after"]["doubled"] == 90
    display = _step(run, "magic").display
    stdout = _streams(display, "stdout")
    assert "Wall time" in stdout and "shell-says-hi" in stdout
    images = [o for o in display if o["output_type"] == "display_data" and "image/png" in o["data"]]
    assert len(images) == 1
    assert images[0]["data"]["image/png"].startswith("iVBOR")  # base64 PNG


def test_a_trailing_semicolon_hides_the_last_value(temporal: str, workflow_name: str) -> None:
    flowat.publish(workflow_name, cells=cells("%%flowat step quiet\nx = 41\nx + 1;"))
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    assert not [o for o in _step(run, "quiet").display or [] if o["output_type"] != "stream"]


@pytest.mark.parametrize("ending", ["sys.exit()", "sys.exit(0)", "raise SystemExit"])
def test_a_clean_system_exit_succeeds_and_keeps_what_was_printed(
    temporal: str, workflow_name: str, ending: str
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step a --retries 2\nimport sys\nkept = 1\n"
            f"print('before the exit')\n{ending}",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    step = _step(run, "a")
    assert step.status == "succeeded" and step.attempts == 1
    assert "before the exit" in (step.logs or "")
    assert run.outputs["a"]["kept"] == 1


@pytest.mark.parametrize(
    ("ending", "kind", "value"),
    [
        ("sys.exit(3)", "SystemExit", "3"),
        ("sys.exit('cannot go on')", "SystemExit", "cannot go on"),
        ("raise KeyboardInterrupt", "KeyboardInterrupt", ""),
    ],
)
def test_a_failing_exit_or_interrupt_is_reported_as_itself_and_not_retried(
    temporal: str, workflow_name: str, ending: str, kind: str, value: str
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(f"%%flowat step a --retries 2\nimport sys\nprint('before it')\n{ending}"),
    )
    run = flowat.run(workflow_name)
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["type"] == kind
    step = _step(run, "a")
    assert step.attempts == 1  # never retried
    assert step.error is not None
    assert step.error["type"] == kind and step.error["message"] == value
    assert step.error["cell_line"] == 4
    assert "before it" in (step.logs or "")
    assert _streams(step.display, "stdout") == "before it\n"


def test_error_names_values_and_tracebacks_are_the_users_own(
    temporal: str, workflow_name: str
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step a --retries 0\n"
            "def check(v):\n"
            "    raise ValueError(f'bad value {v}')\n"
            "check(7)"
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "failed"
    error = _step(run, "a").error
    assert error is not None
    assert (error["type"], error["message"], error["cell_line"]) == ("ValueError", "bad value 7", 3)
    trace = error["traceback"]
    assert trace.startswith("Traceback (most recent call last):\n")
    assert "flowat_kernel" not in trace  # no FlowAt frame on top
    assert trace.splitlines()[1].strip().startswith('File "<flowat step a>", line 3')
    assert trace.rstrip().endswith("ValueError: bad value 7")


def test_exports_that_cannot_travel_are_left_out_unless_read(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    data = tmp_path / "data.txt"
    data.write_text("hello")
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step read\n"
            "import threading, sqlite3\n"
            f"with open({str(data)!r}) as f:\n"
            "    text = f.read()\n"
            "lock = threading.Lock()\n"
            "connection = sqlite3.connect(':memory:')\n"
            "numbers = (n for n in range(3))",
            "%%flowat step shout\nloud = text.upper()\n"
            f"handle = open({str(tmp_path / 'out.txt')!r}, 'w')",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    assert run.outputs["shout"]["loud"] == "HELLO"
    read = _step(run, "read")
    for name in ("f", "lock", "connection", "numbers"):
        assert f"'{name}'" in (read.logs or ""), read.logs
        assert name not in run.outputs["read"]
    assert "not passed on" in (read.logs or "")
    # The run's last step: its output that cannot travel is left out with the note too.
    assert "'handle'" in (_step(run, "shout").logs or "")


def test_an_export_that_cannot_travel_and_is_read_later_fails_as_before(
    temporal: str, workflow_name: str
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step make --retries 2\nimport threading\nlock = threading.Lock()",
            "%%flowat step use\nheld = lock.locked()",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "failed"
    step = _step(run, "make")
    assert step.attempts == 1
    assert step.error is not None
    message = step.error["message"]
    assert "cannot pass 'lock' (lock) to later steps: it cannot be pickled" in message, message
    assert "name starting with _" in message


def test_shown_outputs_are_masked(temporal: str, workflow_name: str) -> None:
    name = f"cell_{uuid.uuid4().hex[:8]}"
    value = f"cell-canary-{uuid.uuid4().hex}"
    flowat.set_secret(name, value)
    flowat.publish(
        workflow_name,
        cells=cells(
            f"%%flowat step leak\ntoken = flowat.secret({name!r}).reveal()\n"
            "import sys\nprint(token)\nprint(token, file=sys.stderr)\n"
            "from IPython.display import HTML\ndisplay(HTML(token))\n"
            "{'token': token}"
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    step = _step(run, "leak")
    shown = repr(step.display) + (step.logs or "")
    assert value not in shown
    assert shown.count(f"[secret:{name}]") >= 4
