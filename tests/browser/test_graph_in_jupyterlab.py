"""The graph editor and the live run monitor in a real JupyterLab, in headless Chromium.

The notebook registers three steps, publishes them, opens the editor, edits a step's
retries in the side panel (which rewrites the step's cell in the open notebook), and
runs the workflow with the live graph while the browser watches the step colours.
Screenshots go to ``tests/browser/artifacts/``.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from tests.browser.conftest import ARTIFACTS, Lab

SLOW = "%%flowat step slow --retries 1\nimport time\ntime.sleep(2)\ny = x + 1"


def _notebook(workflow: str) -> Any:
    cells = [
        "%load_ext flowat_kernel",
        "%%flowat step first\nx = 1",
        "%%flowat step slow --retries 1\ny = x + 1",
        "%%flowat step last\nz = y + 1",
        f"%flowat publish {workflow}",
        f"ed = %flowat editor {workflow}\ned.select('slow')\ned",
        f"run = %flowat run {workflow} --graph\nrun.status",
    ]
    notebook = new_notebook(cells=[new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return notebook


def _graph(page: Any, prefix: str) -> dict[str, Any]:
    text = page.evaluate(
        """(prefix) => {
            const found = [...document.querySelectorAll('pre.flowat-graph-state')]
                .filter(e => (e.dataset.graph || '').startsWith(prefix));
            return found.length ? found[found.length - 1].textContent : null;
        }""",
        prefix,
    )
    return json.loads(text) if text else {}


def _states(graph: dict[str, Any]) -> dict[str, str]:
    return {
        n["id"]: next((c[6:] for c in n["classes"] if c.startswith("state-")), "")
        for n in graph.get("nodes", [])
    }


_RAN = """(i) => {
    const c = document.querySelector(
        `.jp-Notebook .jp-Cell[data-windowed-list-index='${i}'] .jp-InputArea-prompt`);
    return c && /\\[\\d+\\]/.test(c.textContent);
}"""


def _run_cell(page: Any, index: int, wait: bool = True, timeout: float = 60_000) -> None:
    cell = page.locator(f".jp-Notebook .jp-Cell[data-windowed-list-index='{index}']")
    cell.locator(".jp-InputArea-prompt").click()
    page.keyboard.press("Shift+Enter")
    if wait:
        page.wait_for_function(_RAN, arg=index, timeout=timeout)


def _start_kernel(page: Any) -> None:
    """Run the first cell until it runs: a request sent while the kernel connects is lost."""
    page.wait_for_function(
        "() => (document.querySelector('.jp-StatusBar-Widget') || document.body)"
        ".closest('body').textContent.includes('| Idle')",
        timeout=60_000,
    )
    for _ in range(5):
        try:
            _run_cell(page, 0, timeout=10_000)
            return
        except Exception:  # Playwright's TimeoutError: try again
            continue
    raise AssertionError("the kernel never ran the first cell")


def _cell_text(page: Any, index: int) -> str:
    return str(
        page.locator(
            f".jp-Notebook .jp-Cell[data-windowed-list-index='{index}'] .jp-InputArea .cm-content"
        ).inner_text()
    )


def test_editor_and_live_monitor_in_jupyterlab(jupyterlab: Lab, browser: Any) -> None:
    workflow = f"lab_{uuid.uuid4().hex[:8]}"
    nbformat.write(_notebook(workflow), jupyterlab.root / "graph.ipynb")
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    started = time.monotonic()
    try:
        page.goto(jupyterlab.notebook_url("graph.ipynb"))
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        page.wait_for_selector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000
        )
        _start_kernel(page)
        for index in range(1, 5):
            _run_cell(page, index)
        _run_cell(page, 5)

        # the editor: the right nodes, drawn on the cytoscape canvas
        page.wait_for_function(
            "() => document.querySelectorAll('pre.flowat-graph-state').length > 0",
            timeout=30_000,
        )
        editor = _graph(page, "editor:")
        assert [n["id"] for n in editor["nodes"]] == ["first", "slow", "last"]
        assert {(e["source"], e["target"]) for e in editor["edges"]} == {
            ("first", "slow"),
            ("slow", "last"),
        }
        assert all("kind-code" in n["classes"] for n in editor["nodes"])
        output = page.locator(".jp-Cell[data-windowed-list-index='5'] .jp-OutputArea-output")
        assert output.locator("canvas").count() >= 3
        page.screenshot(path=str(ARTIFACTS / "editor.png"), full_page=True)

        # edit the selected step's retries in the side panel; its cell follows
        retries = output.locator("input[placeholder='2 (default)']")
        retries.fill("3")
        output.locator("button", has_text="Apply").click()
        page.wait_for_function(
            "() => (document.body.dataset.flowatCellWrite || '').includes('--retries 3')",
            timeout=30_000,
        )
        assert _cell_text(page, 2).splitlines()[0] == "%%flowat step slow --retries 3"
        page.screenshot(path=str(ARTIFACTS / "editor-after-edit.png"), full_page=True)

        # make the step slow in the notebook, re-run and publish it, then run it live
        cell = page.locator(".jp-Notebook .jp-Cell[data-windowed-list-index='2'] .cm-content")
        cell.click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(SLOW.replace("--retries 1", "--retries 3"))
        _run_cell(page, 2)
        _run_cell(page, 4)
        _run_cell(page, 6, wait=False)
        seen: list[dict[str, str]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = _states(_graph(page, "run:"))
            if states and (not seen or states != seen[-1]):
                seen.append(states)
                if states.get("slow") == "running":
                    page.screenshot(path=str(ARTIFACTS / "monitor-running.png"), full_page=True)
            if states.get("last") == "succeeded":
                break
            time.sleep(0.15)
        page.screenshot(path=str(ARTIFACTS / "monitor-done.png"), full_page=True)
        slow = [s.get("slow") for s in seen]
        assert "running" in slow, seen
        assert slow[-1] == "succeeded", seen
        assert slow.index("running") < slow.index("succeeded")
        assert seen[-1] == {"first": "succeeded", "slow": "succeeded", "last": "succeeded"}
    finally:
        page.screenshot(path=str(ARTIFACTS / "final.png"), full_page=True)
        page.close()
    assert time.monotonic() - started < 120
