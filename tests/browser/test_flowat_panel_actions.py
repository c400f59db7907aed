"""The FlowAt panel's sections and run actions in a real JupyterLab, in headless Debian
Chromium: schedules, webhooks, secrets (added through the masked form: the value reaches
neither the page's storage nor a log) and dead letters (retry, discard); re-run and
resume, the report notebook and the Temporal UI link of a run view; links in the magics'
output; a failed ``%flowat run`` failing its cell. Screenshots go to
``tests/browser/artifacts/``.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

import flowat_kernel as flowat
from flowat_kernel.api import default_workspace
from flowat_kernel.api.triggers import add_schedule, add_webhook
from flowat_kernel.testing import cells
from tests.browser.conftest import ARTIFACTS, Lab
from tests.browser.test_flowat_panel import _open_panel, _palette_search
from tests.browser.test_graph_in_jupyterlab import _start_kernel

FAILING = (
    "%%flowat step work --retries 0\nif n == 0:\n    raise ValueError('n must not be 0')\nout = n"
)
FIXED = "%%flowat step work --retries 0\nout = n + 5"


def _api(lab: Lab, method: str, path: str, body: Any = None) -> Any:
    """A call to FlowAt's REST API in the Jupyter server (token auth)."""
    request = urllib.request.Request(
        f"{lab.url}/api/v1{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=90) as reply:
        return json.loads(reply.read())


def _failed_run(lab: Lab, workflow: str) -> dict[str, Any]:
    run = _api(lab, "POST", f"/workflows/{workflow}/runs", {"parameters": {}, "wait_seconds": 60})
    assert run["status"] == "failed", run
    return dict(run)


def _palette(page: Any, label: str) -> None:
    """Run a command from the palette: search its label, then Enter on the active item."""
    search = _palette_search(page, label)
    page.locator(".lm-CommandPalette-item.lm-mod-active", has_text=label).wait_for(timeout=10_000)
    search.press("Enter")


def _open_section(page: Any, name: str) -> Any:
    section = page.locator(f"#flowat-panel .flowat-section[data-section='{name}']")
    section.locator("summary").click()
    page.wait_for_function(
        "(name) => document.querySelector(`#flowat-panel .flowat-section[data-section='${name}']`)"
        "?.dataset.loaded === 'true'",
        arg=name,
        timeout=30_000,
    )
    return section


def _storage(page: Any) -> str:
    """Everything the page keeps: local and session storage, IndexedDB names, cookies."""
    kept = page.evaluate(
        """async () => {
            const dump = s => JSON.stringify(Object.fromEntries(
                Array.from({length: s.length}, (_, i) => [s.key(i), s.getItem(s.key(i))])));
            const dbs = indexedDB.databases ? await indexedDB.databases() : [];
            return [dump(localStorage), dump(sessionStorage), JSON.stringify(dbs),
                    document.cookie, document.documentElement.outerHTML].join('\\n');
        }"""
    )
    return str(kept)


_SCAN = """
import sys
from pathlib import Path
needle = sys.stdin.buffer.read()
for path in Path(sys.argv[1]).rglob("*"):
    if path.is_file() and needle in path.read_bytes():
        print(path)
"""


def _files_holding(folder: Path, needle: str) -> list[str]:
    """Files under ``folder`` whose bytes hold ``needle``, read in another process.

    Not in this one: closing a descriptor of the SQLite store here would drop this
    process's POSIX locks on it (see tests/vault/test_canary.py).
    """
    found = subprocess.run(
        [sys.executable, "-c", _SCAN, str(folder)],
        input=needle.encode(),
        capture_output=True,
        check=True,
        timeout=120,
    )
    return found.stdout.decode().split()


def test_sections_list_schedules_webhooks_and_dead_letters_and_resolve_them(
    jupyterlab: Lab, browser: Any
) -> None:
    workflow = f"sections_{uuid.uuid4().hex[:8]}"
    flowat.publish(workflow, cells=cells(FAILING, parameters="n = 0"))
    schedule = add_schedule(workflow, every="1h", paused=True)
    hook = add_webhook(workflow)
    chat = "https://hooks.chat.example/services/T1/B2/alert-url-credential-5f1e"
    alert = default_workspace().add_alert(workflow, on="failure", kind="chat", target=chat)
    first = _failed_run(jupyterlab, workflow)
    second = _failed_run(jupyterlab, workflow)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open_panel(page, jupyterlab)
        schedules = _open_section(page, "schedules")
        row = schedules.locator(f".flowat-schedule[data-id='{schedule.id}']")
        assert row.get_attribute("data-workflow") == workflow
        assert "every 1h" in row.inner_text() and "paused" in row.inner_text()

        webhooks = _open_section(page, "webhooks")
        row = webhooks.locator(f".flowat-webhook[data-id='{hook.info.id}']")
        assert "signed" in row.inner_text() and hook.info.token_hint in row.inner_text()
        assert hook.token not in page.content()

        alerts = _open_section(page, "alerts")
        row = alerts.locator(f".flowat-alert[data-id='{alert.id}']")
        assert "on failure → chat hooks.chat.example" in row.inner_text()
        assert "alert-url-credential" not in page.content()  # a URL shows its host only

        letters = _open_section(page, "dead-letters")
        mine = letters.locator(f".flowat-dead-letter[data-run-id='{first['run_id']}']")
        mine.wait_for(timeout=30_000)
        assert "work" in mine.inner_text() and "n must not be 0" in mine.inner_text()
        page.locator("#flowat-panel").screenshot(path=str(ARTIFACTS / "panel-sections.png"))

        # retry re-drives the step on the latest version (fixed): a new run that succeeds
        flowat.publish(workflow, cells=cells(FIXED, parameters="n = 0"))
        mine.locator(".flowat-dlq-retry").click()
        mine.wait_for(state="detached", timeout=60_000)
        retried = [
            d
            for d in _api(jupyterlab, "GET", "/dlq?status=all")["items"]
            if d["run_id"] == first["run_id"]
        ]
        assert retried[0]["status"] == "retried" and retried[0]["redrive_run_id"]
        redriven = retried[0]["redrive_run_id"]
        toast = page.locator(".Toastify__toast", has_text=f"{workflow} v2 succeeded")
        toast.wait_for(timeout=60_000)
        assert flowat.get_run(redriven).status == "succeeded"

        # discard gives up on the other one
        other = letters.locator(f".flowat-dead-letter[data-run-id='{second['run_id']}']")
        other.locator(".flowat-dlq-discard").click()
        other.wait_for(state="detached", timeout=30_000)
        statuses = {
            d["run_id"]: d["status"] for d in _api(jupyterlab, "GET", "/dlq?status=all")["items"]
        }
        assert statuses[second["run_id"]] == "discarded"
    finally:
        page.close()


def test_a_secret_added_through_the_form_is_stored_and_never_kept_by_the_page(
    jupyterlab: Lab, browser: Any, flowat_home: Path
) -> None:
    name = f"lab_{uuid.uuid4().hex[:8]}"
    value = f"sk-lab-canary-{secrets.token_hex(12)}"
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        _open_panel(page, jupyterlab)
        section = _open_section(page, "secrets")
        section.locator(".flowat-secret-add").click()
        dialog = page.locator(".jp-Dialog")
        dialog.wait_for(timeout=10_000)
        # a bad name is refused in the form, before anything is sent
        dialog.locator(".flowat-secret-name").fill("not valid!")
        dialog.locator(".flowat-secret-value").fill(value)
        assert dialog.locator(".flowat-secret-value").get_attribute("type") == "password"
        dialog.locator("button.jp-mod-accept").click()
        error = page.locator(".jp-Dialog .flowat-SecretForm-error")
        error.wait_for(timeout=10_000)
        assert "not a valid secret name" in error.inner_text() and value not in error.inner_text()
        # the value field comes back empty; the name is kept to fix
        assert page.locator(".jp-Dialog .flowat-secret-value").input_value() == ""
        page.locator(".jp-Dialog .flowat-secret-name").fill(name)
        page.locator(".jp-Dialog .flowat-secret-value").fill(value)
        page.screenshot(path=str(ARTIFACTS / "secret-form.png"))
        page.locator(".jp-Dialog button.jp-mod-accept").click()

        row = section.locator(f".flowat-secret[data-name='{name}']")
        row.wait_for(timeout=30_000)
        assert "v1" in row.inner_text() and "never used" in row.inner_text()
        assert flowat.secret(name).reveal() == value
        page.locator("#flowat-panel").screenshot(path=str(ARTIFACTS / "panel-secrets.png"))

        # the value is nowhere the page keeps things, nor in the server's logs or files
        assert value not in _storage(page)
        assert not any(value in text for text in console)
        assert not any(value in url for url in requests)
        saved = urllib.request.urlopen(
            f"{jupyterlab.url}/lab/api/workspaces?token={jupyterlab.token}", timeout=10
        ).read()
        assert value.encode() not in saved
        assert value not in jupyterlab.log.read_text()
        assert _files_holding(flowat_home, value) == []
        assert _files_holding(jupyterlab.root, value) == []

        # replace it: the name is fixed, a new version
        row.locator(".flowat-secret-replace").click()
        dialog = page.locator(".jp-Dialog")
        assert dialog.locator(".flowat-secret-name").input_value() == name
        dialog.locator(".flowat-secret-value").fill(value + "-2")
        dialog.locator("button.jp-mod-accept").click()
        page.wait_for_function(
            "(name) => document.querySelector(`.flowat-secret[data-name='${name}']`)"
            "?.textContent.includes('v2')",
            arg=name,
            timeout=30_000,
        )
        assert flowat.secret(name).reveal() == value + "-2"

        # delete it, after a confirmation
        row.locator(".flowat-secret-delete").click()
        page.locator(".jp-Dialog button.jp-mod-warn").click()
        row.wait_for(state="detached", timeout=30_000)
        assert name not in [s["name"] for s in _api(jupyterlab, "GET", "/secrets")["items"]]
        assert value not in _storage(page)
    finally:
        page.close()


def test_run_view_actions_rerun_resume_report_and_temporal(jupyterlab: Lab, browser: Any) -> None:
    workflow = f"actions_{uuid.uuid4().hex[:8]}"
    flowat.publish(workflow, cells=cells("%%flowat step first\nx = 1", FAILING, parameters="n = 0"))
    failed = _failed_run(jupyterlab, workflow)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        _open_panel(page, jupyterlab)
        _palette(page, "FlowAt: Show run…")
        page.locator(".jp-Dialog input").fill(failed["run_id"][:12])
        page.locator(".jp-Dialog button.jp-mod-accept").click()
        view = page.locator(f".flowat-RunView[data-run-id='{failed['run_id'][:12]}']")
        view.locator(".flowat-resume").wait_for(timeout=30_000)
        assert view.locator(".flowat-rerun").count() == 1

        # the Temporal UI link is the run's workflow page, and the UI answers it
        link = view.locator(".flowat-temporal-link")
        expected = _api(jupyterlab, "GET", f"/runs/{failed['run_id']}/temporal")["url"]
        page.wait_for_function(
            "() => !!document.querySelector('.flowat-temporal-link')?.getAttribute('href')",
            timeout=30_000,
        )
        assert link.get_attribute("href") == expected and expected.endswith(failed["run_id"])
        assert link.get_attribute("target") == "_blank"
        with urllib.request.urlopen(expected, timeout=15) as reply:
            assert reply.status == 200

        # the report notebook opens as a notebook in JupyterLab
        view.locator(".flowat-report").click()
        report = f"flowat-reports/{workflow}-{failed['run_id'][:12]}.ipynb"
        page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for(timeout=30_000)
        assert (jupyterlab.root / report).is_file()
        opened = nbformat.read(jupyterlab.root / report, as_version=4)
        assert any("n must not be 0" in json.dumps(c.get("outputs", [])) for c in opened.cells)
        page.locator(".lm-TabBar-tab", has_text=Path(report).name).wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "run-report.png"))

        # resume from the failed step after fixing it: a new run view, succeeded
        flowat.publish(
            workflow, cells=cells("%%flowat step first\nx = 1", FIXED, parameters="n = 0")
        )
        page.locator(".lm-TabBar-tab", has_text=workflow).first.click()
        view.locator(".flowat-resume").click()
        resumed = page.locator(".flowat-RunView[data-status='succeeded']")
        resumed.wait_for(timeout=60_000)
        resumed_id = resumed.get_attribute("data-run-id")
        assert resumed_id and resumed_id != failed["run_id"]
        assert flowat.get_run(resumed_id).outputs["work"]["out"] == 5
        page.screenshot(path=str(ARTIFACTS / "run-view-actions.png"))

        # re-run from the panel: a new run of the workflow, watched to its end
        page.locator("#flowat-panel .flowat-filter-workflow").select_option(workflow)
        rows = page.locator("#flowat-panel .flowat-run")
        page.wait_for_function(
            "() => document.querySelectorAll('#flowat-panel .flowat-run').length === 2",
            timeout=30_000,
        )
        before = set(rows.evaluate_all("rows => rows.map(r => r.dataset.runId)"))
        page.locator(f"#flowat-panel .flowat-run[data-run-id='{resumed_id}'] .flowat-rerun").click()
        page.wait_for_function(
            "() => document.querySelectorAll('#flowat-panel .flowat-run').length === 3",
            timeout=30_000,
        )
        after = set(rows.evaluate_all("rows => rows.map(r => r.dataset.runId)"))
        (rerun_id,) = after - before
        page.locator(
            f".flowat-RunView[data-run-id='{rerun_id}'][data-status='succeeded']"
        ).wait_for(timeout=60_000)
        page.locator("#flowat-panel").screenshot(path=str(ARTIFACTS / "panel-rerun.png"))
    finally:
        page.close()


def test_magic_output_links_open_the_run_view_and_a_failed_run_fails_its_cell(
    jupyterlab: Lab, browser: Any
) -> None:
    workflow = f"magic_{uuid.uuid4().hex[:8]}"
    flowat.publish(workflow, cells=cells(FAILING, parameters="n = 0"))
    notebook = new_notebook(
        cells=[
            new_code_cell("%load_ext flowat_kernel"),
            new_code_cell(f"%flowat run {workflow}"),
            new_code_cell("after = 'not reached'"),
        ]
    )
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, jupyterlab.root / "magic-links.ipynb")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(jupyterlab.notebook_url("magic-links.ipynb"))
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        page.wait_for_selector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000
        )
        _start_kernel(page)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        error = page.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        )
        error.first.wait_for(timeout=120_000)
        text = error.first.inner_text()
        assert "CellRunFailed" in text and "n must not be 0" in text
        assert "flowat_kernel" not in text and "site-packages" not in text
        # Run All stops at the failed cell: the next one never ran
        third = page.locator(".jp-Notebook .jp-Cell").nth(2)
        assert not re.search(r"\d", third.locator(".jp-InputPrompt").inner_text())
        page.screenshot(path=str(ARTIFACTS / "failed-cell.png"))

        # the progress display's link opens the run's view in the main area
        link = page.locator(".jp-OutputArea a.flowat-run-link").first
        run_id = (link.get_attribute("href") or "").split("=", 1)[1]
        link.click()
        view = page.locator(f".flowat-RunView[data-run-id='{run_id}'][data-status='failed']")
        view.wait_for(timeout=30_000)

        # a URL with the fragment opens it too, and #flowat-workflow filters the panel
        page.goto(f"{jupyterlab.url}/lab?token={jupyterlab.token}&reset#flowat-workflow={workflow}")
        page.wait_for_function(
            "(w) => document.querySelector('#flowat-panel .flowat-filter-workflow')?.value === w",
            arg=workflow,
            timeout=60_000,
        )
        page.goto(f"{jupyterlab.url}/lab?token={jupyterlab.token}&reset#flowat-run={run_id}")
        page.locator(f".flowat-RunView[data-run-id='{run_id}']").wait_for(timeout=60_000)
    finally:
        page.screenshot(path=str(ARTIFACTS / "magic-links-final.png"))
        page.close()


def test_compile_problems_show_on_their_cells_before_publishing(
    jupyterlab: Lab, browser: Any
) -> None:
    notebook = new_notebook(
        cells=[
            new_code_cell("%%flowat step load\nx = 1"),
            new_code_cell("%%flowat step use --after nowhere\ny = x + missing"),
            new_code_cell("%%flowat step load\nz = 2"),
        ]
    )
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, jupyterlab.root / "problems.ipynb")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(jupyterlab.notebook_url("problems.ipynb"))
        page.wait_for_selector(".jp-Notebook .flowat-step-problem", timeout=60_000)
        problems = page.evaluate(
            "() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map(c => "
            "c.querySelector(':scope > .flowat-step-problem')?.dataset.codes || '')"
        )
        # the compiler stops at the duplicate name first: only the third cell shows it
        assert problems == ["", "", "duplicate-step"], problems
        page.screenshot(path=str(ARTIFACTS / "compile-problem-duplicate.png"))

        # renaming the third step moves on to the second cell's problems
        editor = page.locator(".jp-Cell[data-windowed-list-index='2'] .cm-content")
        editor.click()
        page.keyboard.press("Control+Home")
        page.keyboard.press("End")
        page.keyboard.insert_text("_again")
        page.wait_for_function(
            "() => { const c = document.querySelectorAll('.jp-Notebook .jp-Cell');"
            " return !c[2].querySelector(':scope > .flowat-step-problem') &&"
            " !!c[1].querySelector(':scope > .flowat-step-problem'); }",
            timeout=30_000,
        )
        second = page.locator(".jp-Cell[data-windowed-list-index='1'] .flowat-step-problem")
        codes = second.get_attribute("data-codes") or ""
        assert "unknown-step" in codes and "undefined-name" in codes, codes
        assert "nowhere" in second.inner_text() and "missing" in second.inner_text()
        page.screenshot(path=str(ARTIFACTS / "compile-problems.png"))

        # fixing the cell clears its problems
        editor = page.locator(".jp-Cell[data-windowed-list-index='1'] .cm-content")
        editor.click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text("%%flowat step use\ny = x + 1")
        page.wait_for_function(
            "() => !document.querySelector('.jp-Notebook .flowat-step-problem')",
            timeout=30_000,
        )
    finally:
        page.close()


def _settings(lab: Lab, raw: dict[str, Any] | None = None) -> dict[str, Any]:
    """The FlowAt settings as JupyterLab's settings API serves them (after a change)."""
    url = f"{lab.url}/lab/api/settings/flowat-jupyterlab:plugin"
    headers = {"Authorization": f"token {lab.token}", "Content-Type": "application/json"}
    if raw is not None:
        body = json.dumps({"raw": json.dumps(raw)}).encode()
        urllib.request.urlopen(
            urllib.request.Request(url, data=body, headers=headers, method="PUT"), timeout=30
        ).close()
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
        return dict(json.loads(r.read()))


def test_settings_and_keyboard_shortcuts(jupyterlab: Lab, browser: Any) -> None:
    workflow = f"settings_{uuid.uuid4().hex[:8]}"
    flowat.publish(workflow, cells=cells("%%flowat step one\nx = 1"))
    current = _settings(jupyterlab)
    properties = current["schema"]["properties"]
    assert {"defaultWorkflow", "pollSeconds", "notifications"} <= set(properties)
    shortcuts = {s["command"]: s["keys"] for s in current["schema"]["jupyter.lab.shortcuts"]}
    assert shortcuts["flowat:show-run"] == ["Alt Shift O"]
    # a bad value is refused by the schema
    try:
        _settings(jupyterlab, {"pollSeconds": 0})
        refused = False
    except urllib.error.HTTPError as error:
        refused = error.code == 400
    assert refused
    _settings(jupyterlab, {"defaultWorkflow": workflow, "notifications": False})
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        _open_panel(page, jupyterlab)
        # Alt+Shift+O asks for a run id; Alt+Shift+R offers the default workflow first
        page.locator("#flowat-panel").click()
        page.keyboard.press("Alt+Shift+O")
        dialog = page.locator(".jp-Dialog", has_text="FlowAt: Show run")
        dialog.wait_for(timeout=10_000)
        dialog.locator("button.jp-mod-reject").click()
        page.keyboard.press("Alt+Shift+R")
        chooser = page.locator(".jp-Dialog", has_text="FlowAt: Run workflow")
        chooser.wait_for(timeout=10_000)
        assert chooser.locator("select").input_value() == workflow
        chooser.locator("button.jp-mod-accept").click()
        page.locator(".jp-Dialog .flowat-RunForm").wait_for(timeout=10_000)
        page.locator(".jp-Dialog button.jp-mod-accept").click()

        # with notifications off the run is watched to its end, and nothing is raised
        page.locator("#flowat-panel .flowat-filter-workflow").select_option(workflow)
        mine = page.locator("#flowat-panel .flowat-run[data-status='succeeded']")
        mine.filter(has_text=f"{workflow} v1").first.wait_for(timeout=60_000)
        page.wait_for_function(
            "() => (sessionStorage.getItem('flowat:watched-runs') || '[]') === '[]'",
            timeout=30_000,
        )
        page.wait_for_timeout(1000)  # a notification raised would be drawn by now
        assert page.locator(".Toastify__toast", has_text=f"{workflow} v1 succeeded").count() == 0
    finally:
        _settings(jupyterlab, {})
        page.close()
