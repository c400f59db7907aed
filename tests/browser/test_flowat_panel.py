"""The FlowAt JupyterLab extension in a real JupyterLab, in headless Debian Chromium.

No kernel is involved in the panel or the run view: the page reads FlowAt's REST API
served by the Jupyter server extension, as the logged-in Jupyter user. The workflows are
published by the test into the store the JupyterLab server reads. Screenshots go to
``tests/browser/artifacts/``.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from playwright.sync_api import TimeoutError as PlaywrightTimeout

import flowat_kernel as flowat
from flowat_kernel.testing import cells
from tests.browser.conftest import ARTIFACTS, Lab

STEPS = (
    "%%flowat step first\nimport time\ntime.sleep(1)\nx = n + 1",
    "%%flowat step second\ny = x * 2",
)
FAILS = ("%%flowat step ok\nx = 1", "%%flowat step broken --retries 0\nraise KeyError('gone')")


def _graph(page: Any) -> list[dict[str, str]]:
    text = page.locator(".flowat-RunView").first.get_attribute("data-graph")
    return json.loads(text) if text else []


def _open_panel(page: Any, lab: Lab, reset: bool = True) -> None:
    page.goto(f"{lab.url}/lab?token={lab.token}{'&reset' if reset else ''}")
    page.wait_for_selector(".jp-LabShell", timeout=60_000)
    tab = page.locator(".jp-SideBar li[data-id='flowat-panel']")
    tab.wait_for(timeout=30_000)
    if not page.locator("#flowat-panel").is_visible():
        tab.click()
    page.wait_for_selector("#flowat-panel .flowat-workflow", timeout=30_000)


def _wait_saved(lab: Lab, run_id: str) -> None:
    """Wait until JupyterLab saved its workspace with the run view open (it debounces)."""
    deadline = time.monotonic() + 30
    url = f"{lab.url}/lab/api/workspaces?token={lab.token}"
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url, timeout=10) as reply:
            if f"flowat-run:{run_id}" in reply.read().decode():
                return
        time.sleep(0.3)
    raise AssertionError(f"the workspace was never saved with run view {run_id}")


def _palette_search(page: Any, label: str) -> Any:
    """Open the command palette and type ``label`` in its search; the search's locator.

    On a loaded machine the palette can close again before its input takes the text (a
    shortcut pressed while the page still settles): then it is opened again, up to three
    times, and the last failure is raised.
    """
    search = page.locator(".lm-CommandPalette-input")
    for attempt in range(3):
        page.keyboard.press("Control+Shift+C")
        try:
            search.wait_for(timeout=10_000)
            search.fill(label, timeout=10_000)
            return search
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
    raise AssertionError("unreachable")


def _palette(page: Any, label: str) -> None:
    """Run the command ``label`` from the command palette (its first matching item)."""
    _palette_search(page, label)
    page.locator(".lm-CommandPalette-item", has_text=label).first.click()


def test_panel_runs_a_workflow_and_the_run_view_survives_a_reload(
    jupyterlab: Lab, browser: Any
) -> None:
    workflow = f"panel_{uuid.uuid4().hex[:8]}"
    flowat.publish(workflow, cells=cells(*STEPS, parameters="n = 2"))
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        _open_panel(page, jupyterlab)
        row = page.locator(f"#flowat-panel .flowat-workflow[data-workflow='{workflow}']")
        row.wait_for(timeout=30_000)
        assert row.locator(".flowat-version").inner_text() == "v1"
        page.screenshot(path=str(ARTIFACTS / "panel.png"))

        # run it from the panel, with a typed parameter from the form
        row.locator(".flowat-run-button").click()
        dialog = page.locator(".jp-Dialog")
        dialog.wait_for(timeout=10_000)
        field = dialog.locator("input[name='n']")
        assert field.input_value() == "2"
        field.fill("two")
        dialog.locator("button.jp-mod-accept").click()
        dialog.locator(".flowat-RunForm-error", has_text="whole number").wait_for(timeout=10_000)
        dialog.locator("input[name='n']").fill("5")
        page.screenshot(path=str(ARTIFACTS / "panel-run-form.png"))
        dialog.locator("button.jp-mod-accept").click()

        # the panel shows the run live; filter on the workflow to see only its runs
        page.locator("#flowat-panel .flowat-filter-workflow").select_option(workflow)
        runs = page.locator(f"#flowat-panel .flowat-run:has-text('{workflow} v1')")
        runs.first.wait_for(timeout=30_000)
        seen = set()
        for _ in range(200):
            status = runs.first.get_attribute("data-status")
            seen.add(status)
            if status in ("succeeded", "failed", "cancelled", "timed_out"):
                break
            page.wait_for_timeout(150)
        assert runs.first.get_attribute("data-status") == "succeeded", seen
        assert runs.count() == 1
        facts = runs.first.locator(".flowat-run-facts").inner_text()
        assert "rest" in facts and " s" in facts, facts
        run_id = runs.first.get_attribute("data-run-id")
        assert run_id and flowat.get_run(run_id).record.parameters == {"n": 5}

        # a run started here raises a notification when it ends, with a button to open it
        toast = page.locator(".Toastify__toast", has_text=f"{workflow} v1 succeeded")
        toast.wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "panel-run-succeeded.png"))

        # the status filter hides it when it does not match
        page.locator("#flowat-panel .flowat-filter-status").select_option("failed")
        page.locator("#flowat-panel .flowat-Panel-runs .flowat-empty").wait_for(timeout=15_000)
        page.locator("#flowat-panel .flowat-filter-status").select_option("succeeded")
        runs.first.wait_for(timeout=15_000)

        # the run view: the graph drawn from the spec, every step coloured succeeded
        runs.first.click()
        view = page.locator(f".flowat-RunView[data-run-id='{run_id}']")
        view.wait_for(timeout=30_000)
        page.wait_for_function(
            "(id) => document.querySelector(`.flowat-RunView[data-run-id='${id}']`)"
            "?.dataset.status === 'succeeded'",
            arg=run_id,
            timeout=30_000,
        )
        assert _graph(page) == [
            {"id": "first", "status": "succeeded"},
            {"id": "second", "status": "succeeded"},
        ]
        assert view.locator(".flowat-RunView-graph canvas").count() >= 1
        assert view.locator(".flowat-step-item[data-status='succeeded']").count() == 2
        view.locator(".flowat-step-item[data-step='second'] summary").click()
        assert '"y": 12' in view.locator(".flowat-step-item[data-step='second']").inner_text()
        page.screenshot(path=str(ARTIFACTS / "run-view.png"))

        # a reload restores the run view (it reads the API again, no kernel)
        _wait_saved(jupyterlab, run_id)
        assert "reset" not in page.url
        page.reload()
        page.wait_for_selector(".jp-LabShell", timeout=60_000)
        restored = page.locator(f".flowat-RunView[data-run-id='{run_id}']")
        restored.wait_for(timeout=30_000)
        page.wait_for_function(
            "() => (document.querySelector('.flowat-RunView')?.dataset.graph || '')"
            ".includes('second')",
            timeout=30_000,
        )
        assert [n["id"] for n in _graph(page)] == ["first", "second"]
        page.screenshot(path=str(ARTIFACTS / "run-view-after-reload.png"))
    finally:
        page.screenshot(path=str(ARTIFACTS / "panel-final.png"))
        page.close()


def test_a_failed_run_from_the_palette_notifies_and_shows_its_error(
    jupyterlab: Lab, browser: Any
) -> None:
    workflow = f"fails_{uuid.uuid4().hex[:8]}"
    flowat.publish(workflow, cells=cells(*FAILS))
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        _open_panel(page, jupyterlab)
        _palette(page, "FlowAt: Run workflow…")
        dialog = page.locator(".jp-Dialog")
        dialog.locator("select").select_option(workflow)
        dialog.locator("button.jp-mod-accept").click()
        form = page.locator(".jp-Dialog .flowat-RunForm")
        form.wait_for(timeout=10_000)
        assert "no parameters" in form.inner_text()
        page.locator(".jp-Dialog button.jp-mod-accept").click()

        toast = page.locator(".Toastify__toast", has_text=f"{workflow} v1 failed")
        toast.wait_for(timeout=60_000)
        assert "gone" in toast.inner_text()
        page.screenshot(path=str(ARTIFACTS / "failed-notification.png"))
        toast.locator("button", has_text="Open run").click()
        view = page.locator(".flowat-RunView[data-status='failed']")
        view.wait_for(timeout=30_000)
        states = {n["id"]: n["status"] for n in _graph(page)}
        assert states == {"ok": "succeeded", "broken": "failed"}
        error = view.locator(".flowat-step-item[data-step='broken'] .flowat-step-error")
        assert "KeyError" in error.inner_text() and "gone" in error.inner_text()
        page.screenshot(path=str(ARTIFACTS / "run-view-failed.png"))
    finally:
        page.close()


def test_step_cells_get_a_badge_that_follows_edits(jupyterlab: Lab, browser: Any) -> None:
    notebook = new_notebook(
        cells=[
            new_code_cell("%%flowat step load\nx = 1"),
            new_code_cell("%%flowat step pick --if\nx > 0"),
            new_code_cell("x = 2\n%%flowat step not_first_line"),
            new_markdown_cell("%%flowat step in_markdown"),
        ]
    )
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, jupyterlab.root / "markers.ipynb")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(jupyterlab.notebook_url("markers.ipynb"))
        page.wait_for_selector(".jp-Notebook .flowat-step-badge", timeout=60_000)
        badges = page.locator(".jp-Notebook .flowat-step-badge")
        page.wait_for_function(
            "() => document.querySelectorAll('.jp-Notebook .flowat-step-badge').length === 2",
            timeout=15_000,
        )
        assert badges.all_inner_texts() == ["step load", "step pick · if"]
        page.screenshot(path=str(ARTIFACTS / "step-badges.png"))

        # rename the first step in the editor: the badge follows
        editor = page.locator(".jp-Cell[data-windowed-list-index='0'] .cm-content")
        editor.click()
        page.keyboard.press("Control+Home")
        page.keyboard.press("End")
        page.keyboard.insert_text("_v2")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.flowat-step-badge')]"
            ".some(b => b.textContent === 'step load_v2')",
            timeout=15_000,
        )
        # breaking the header removes it
        page.keyboard.press("Control+Home")
        page.keyboard.insert_text("# ")
        page.wait_for_function(
            "() => document.querySelectorAll('.jp-Notebook .flowat-step-badge').length === 1",
            timeout=15_000,
        )
    finally:
        page.close()


def test_cancel_a_running_run_from_the_panel(jupyterlab: Lab, browser: Any) -> None:
    workflow = f"slow_{uuid.uuid4().hex[:8]}"
    flowat.publish(workflow, cells=cells("%%flowat step wait\nimport time\ntime.sleep(300)"))
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        _open_panel(page, jupyterlab)
        row = page.locator(f"#flowat-panel .flowat-workflow[data-workflow='{workflow}']")
        row.locator(".flowat-run-button").click()
        page.locator(".jp-Dialog button.jp-mod-accept").click()
        page.locator("#flowat-panel .flowat-filter-workflow").select_option(workflow)
        running = page.locator("#flowat-panel .flowat-run[data-status='running']")
        running.wait_for(timeout=60_000)
        running.locator(".flowat-cancel").click()
        page.locator("#flowat-panel .flowat-run[data-status='cancelled']").wait_for(timeout=120_000)
        assert page.locator("#flowat-panel .flowat-run .flowat-cancel").count() == 0
        toast = page.locator(".Toastify__toast", has_text=f"{workflow} v1 cancelled")
        toast.wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "panel-cancelled.png"))

        # "FlowAt: Show run…" opens a run view by its id
        run_id = page.locator("#flowat-panel .flowat-run").first.get_attribute("data-run-id")
        _palette(page, "FlowAt: Show run…")
        page.locator(".jp-Dialog input").fill(run_id or "")
        page.locator(".jp-Dialog button.jp-mod-accept").click()
        page.locator(f".flowat-RunView[data-run-id='{run_id}'][data-status='cancelled']").wait_for(
            timeout=30_000
        )
        # an id that names no run says so in the view, and nothing breaks
        _palette(page, "FlowAt: Show run…")
        page.locator(".jp-Dialog input").fill("no-such-run")
        page.locator(".jp-Dialog button.jp-mod-accept").click()
        missing = page.locator(".flowat-RunView[data-run-id='no-such-run'][data-status='error']")
        missing.wait_for(timeout=30_000)
        assert "no run" in missing.locator(".flowat-RunView-header").inner_text()
    finally:
        page.close()


def _run_via_api(lab: Lab, workflow: str) -> dict[str, Any]:
    """Start a run through the Jupyter server's REST API (token auth) and wait for its end."""
    request = urllib.request.Request(
        f"{lab.url}/api/v1/workflows/{workflow}/runs",
        data=json.dumps({"wait_seconds": 60}).encode(),
        headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=90) as reply:
        result: dict[str, Any] = json.loads(reply.read())
    return result


def _badge_states(page: Any) -> dict[str, str]:
    return dict(
        page.evaluate(
            "() => [...document.querySelectorAll('.jp-Notebook .flowat-step-badge')]"
            ".map(b => [b.dataset.step, b.dataset.status || ''])"
        )
    )


def test_step_badges_take_the_colour_of_the_latest_run(jupyterlab: Lab, browser: Any) -> None:
    workflow = f"badges_{uuid.uuid4().hex[:8]}"
    sources = ["%%flowat step a\nx = 1", "%%flowat step b\ny = x + 1"]
    flowat.publish(workflow, cells=cells(*sources))
    notebook = new_notebook(
        cells=[new_code_cell(s) for s in [*sources, f"%flowat publish {workflow}"]]
    )
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, jupyterlab.root / "badges.ipynb")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(jupyterlab.notebook_url("badges.ipynb"))
        page.wait_for_selector(".jp-Notebook .flowat-step-badge", timeout=60_000)
        page.wait_for_timeout(1000)
        assert _badge_states(page) == {"a": "", "b": ""}  # no run yet: no state

        assert _run_via_api(jupyterlab, workflow)["status"] == "succeeded"
        page.wait_for_function(
            "() => [...document.querySelectorAll('.flowat-step-badge')]"
            ".every(b => b.dataset.status === 'succeeded')",
            timeout=30_000,
        )
        assert _badge_states(page) == {"a": "succeeded", "b": "succeeded"}
        page.screenshot(path=str(ARTIFACTS / "badges-succeeded.png"))

        # a new version whose second step fails: its badge turns red
        flowat.publish(workflow, cells=cells(sources[0], "%%flowat step b --retries 0\n1 / 0"))
        assert _run_via_api(jupyterlab, workflow)["status"] == "failed"
        page.wait_for_function(
            "() => document.querySelector('.flowat-step-badge[data-step=b]')"
            "?.dataset.status === 'failed'",
            timeout=30_000,
        )
        assert _badge_states(page) == {"a": "succeeded", "b": "failed"}
        colour = page.locator(".flowat-step-badge[data-step='b']").evaluate(
            "b => getComputedStyle(b).backgroundColor"
        )
        assert colour == "rgb(229, 57, 53)"  # the failed colour
        page.screenshot(path=str(ARTIFACTS / "badges-failed.png"))
    finally:
        page.close()
