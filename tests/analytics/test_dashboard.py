"""The ``%flowat dashboard`` widget over real runs on the Temporal dev server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import ipywidgets as widgets
import pytest
from IPython.core.interactiveshell import InteractiveShell

import flowat_kernel as flowat
from flowat_kernel.analytics.events import event
from flowat_kernel.errors import FlowAtError
from flowat_kernel.runtime import get_runtime, reset_runtime
from flowat_kernel.testing import cells
from flowat_kernel.widgets.dashboard import Dashboard

PNG = b"\x89PNG\r\n\x1a\n"
FRAMES = {"volume", "durations", "slowest_steps", "errors", "llm", "recent"}


def publish_divider(name: str, label: str = "v1") -> None:
    """A workflow whose ``divide`` step fails, without retries, when ``n`` is 3."""
    flowat.publish(
        name,
        cells=cells(
            f"%%flowat step load\nvalue = n * 2  # {label}",
            "%%flowat step divide --retries 0\nratio = value / (n - 3)",
            parameters="n = 1",
        ),
    )


def run_all(name: str, ns: list[int]) -> list[flowat.Run]:
    runs = [flowat.run(name, parameters={"n": n}) for n in ns]
    assert [r.status for r in runs] == ["failed" if n == 3 else "succeeded" for n in ns]
    return runs


def counts(dashboard: Dashboard) -> tuple[int, int, int]:
    volume = dashboard.data()["volume"]
    return int(volume["runs"].sum()), int(volume["succeeded"].sum()), int(volume["failed"].sum())


def wait_for(condition: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("FLOWAT_HOME", str(tmp_path))
    reset_runtime()
    yield tmp_path
    reset_runtime()


def test_builds_with_no_data(empty_home: Path) -> None:
    dashboard = Dashboard(refresh_seconds=None)
    assert isinstance(dashboard.widget, widgets.VBox)
    assert not dashboard.auto_refreshing
    descendants = all_widgets(dashboard.widget)
    dropdowns = {d.description: d for d in descendants if isinstance(d, widgets.Dropdown)}
    assert set(dropdowns) == {"workflow", "version", "time range", "last run of"}
    assert dropdowns["last run of"].options == () and dashboard.open_error.disabled
    assert dashboard.recent_runs.options == () and dashboard.open_recent.disabled
    assert labels(dropdowns["workflow"]) == ["all"]
    assert labels(dropdowns["version"]) == ["all"] and dropdowns["version"].disabled
    assert labels(dropdowns["time range"]) == [
        "last hour",
        "last 24 hours",
        "last 7 days",
        "last 30 days",
        "all time (fitted to the runs)",
    ]
    assert any(isinstance(b, widgets.Button) and b.description == "Refresh" for b in descendants)
    data = dashboard.data()
    assert set(data) == FRAMES
    assert all(frame.empty for frame in data.values())
    assert "No runs yet" in dashboard.status.value
    assert "no runs yet" in dashboard.volume_note.value
    assert dashboard.volume_plot.value == b"" and dashboard.duration_plot.value == b""
    assert "no LLM calls" in dashboard.llm_table.value
    for key in ("all", "hour"):  # every range works with nothing to show
        dashboard.range_control.value = key
        assert all(frame.empty for frame in dashboard.data().values())


def test_unknown_workflow_and_bad_refresh_interval(empty_home: Path) -> None:
    dashboard = Dashboard(workflow="it's <b>new</b>", refresh_seconds=None)
    assert dashboard.workflow_control.value == "it's <b>new</b>"
    assert "No runs of it&#x27;s &lt;b&gt;new&lt;/b&gt; yet." in dashboard.status.value
    assert all(frame.empty for frame in dashboard.data().values())
    with pytest.raises(FlowAtError, match="refresh_seconds must be a positive number"):
        Dashboard(refresh_seconds=0)


def labels(dropdown: widgets.Dropdown) -> list[str]:
    return [label for label, _ in dropdown.options]


def all_widgets(root: widgets.Widget) -> list[widgets.Widget]:
    found = [root]
    for child in getattr(root, "children", ()):
        found.extend(all_widgets(child))
    return found


def test_counts_plots_and_filters(temporal: str, workflow_name: str) -> None:
    publish_divider(workflow_name)
    first = run_all(workflow_name, [1, 3, 4])
    publish_divider(workflow_name, label="v2")
    run_all(workflow_name, [3, 5])
    other = f"{workflow_name}_other"
    publish_divider(other)
    run_all(other, [2])
    # An LLM call recorded the way a step's action is, for one run of version 1.
    get_runtime().events.emit(
        event(
            "action",
            run_id=first[0].run_id,
            workflow=workflow_name,
            version=1,
            step="load",
            connector="llm",
            action="chat",
            status="succeeded",
            model="gpt-test",
            tokens_in=100,
            tokens_out=20,
            cost_usd=0.25,
        )
    )

    dashboard = Dashboard(workflow=workflow_name, refresh_seconds=None)
    assert counts(dashboard) == (5, 3, 2)
    data = dashboard.data()
    assert set(data) == FRAMES
    volume = data["volume"]
    finished = volume["runs"] - volume["active"]
    assert (volume["failure_rate"] == volume["failed"] / finished).all()
    durations = data["durations"]  # succeeded and failed runs apart
    assert list(durations["version"]) == [1, 2] and list(durations["runs"]) == [2, 1]
    assert list(durations["failed_runs"]) == [1, 1]
    assert (durations["p95_ms"] >= durations["p50_ms"]).all()
    assert durations["failed_p50_ms"].notna().all()
    assert set(data["slowest_steps"]["step"]) == {"load", "divide"}
    steps = data["slowest_steps"].set_index("step")
    assert steps.loc["divide", "executions"] == 5 and steps.loc["divide", "failures"] == 2
    errors = data["errors"]
    assert list(zip(errors["error_type"], errors["step"], errors["failures"], strict=True)) == [
        ("ZeroDivisionError", "divide", 2)
    ]
    llm = data["llm"]
    assert list(llm["model"]) == ["gpt-test"] and llm["cost_usd"].sum() == pytest.approx(0.25)
    assert bytes(dashboard.volume_plot.value).startswith(PNG)
    assert bytes(dashboard.duration_plot.value).startswith(PNG)
    assert "ZeroDivisionError" in dashboard.errors_table.value
    assert "$0.2500" in dashboard.llm_table.value
    assert f"5 runs of {workflow_name}" in dashboard.status.value
    drawn = dashboard.volume_plot.value
    dashboard.refresh()  # nothing new: the plot is not drawn (nor sent) again
    assert dashboard.volume_plot.value is drawn and counts(dashboard) == (5, 3, 2)

    workflow = dashboard.workflow_control
    assert {workflow_name, other} <= set(labels(workflow))
    assert labels(dashboard.version_control) == ["all", "v1", "v2"]

    dashboard.version_control.value = 2
    assert counts(dashboard) == (2, 1, 1)
    assert dashboard.data()["llm"].empty and "no LLM calls" in dashboard.llm_table.value
    assert list(dashboard.data()["durations"]["version"]) == [2]

    workflow.value = other  # another workflow: back to all of its versions
    assert dashboard.version_control.value == 0
    assert labels(dashboard.version_control) == ["all", "v1"]
    assert counts(dashboard) == (1, 1, 0)
    assert dashboard.data()["errors"].empty

    workflow.value = ""  # all workflows (of the session, so at least these)
    runs, succeeded, failed = counts(dashboard)
    assert runs >= 6 and succeeded >= 4 and failed >= 2
    assert dashboard.version_control.disabled
    shown = set(dashboard.data()["durations"]["workflow"])
    assert {workflow_name, other} <= shown

    workflow.value = workflow_name
    for key in ("hour", "day", "month", "all"):
        dashboard.range_control.value = key
        assert counts(dashboard) == (5, 3, 2), key
        assert bytes(dashboard.volume_plot.value).startswith(PNG)


def test_refreshes_while_runs_happen(temporal: str, workflow_name: str) -> None:
    publish_divider(workflow_name)
    run_all(workflow_name, [1])
    dashboard = Dashboard(workflow=workflow_name, refresh_seconds=0.2)
    try:
        assert dashboard.auto_refreshing and counts(dashboard) == (1, 1, 0)
        run_all(workflow_name, [3])  # no refresh() call: the timer picks the run up
        assert wait_for(lambda: counts(dashboard) == (2, 1, 1)), counts(dashboard)
        assert "refreshing every 0.2 s" in dashboard.status.value
    finally:
        dashboard.stop()
    assert not dashboard.auto_refreshing
    assert wait_for(lambda: not timers())
    run_all(workflow_name, [4])
    time.sleep(1)
    assert counts(dashboard) == (2, 1, 1)  # stopped: nothing re-queried
    dashboard.refresh()
    assert counts(dashboard) == (3, 2, 1)


def test_closing_the_widget_stops_the_timer(empty_home: Path) -> None:
    dashboard = Dashboard(refresh_seconds=0.2)
    assert dashboard.auto_refreshing and timers()
    dashboard.widget.close()
    assert not dashboard.auto_refreshing
    assert wait_for(lambda: not timers())


def timers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "flowat-dashboard" and t.is_alive()]


def test_magic_returns_the_widget(
    shell: InteractiveShell, temporal: str, workflow_name: str
) -> None:
    publish_divider(workflow_name)
    run_all(workflow_name, [3])
    shown = shell.run_line_magic("flowat", "dashboard " + workflow_name)
    try:
        assert isinstance(shown, widgets.VBox)
        dropdowns = [w for w in all_widgets(shown) if isinstance(w, widgets.Dropdown)]
        assert dropdowns[0].value == workflow_name
        assert any(
            isinstance(w, widgets.Image) and bytes(w.value).startswith(PNG)
            for w in all_widgets(shown)
        )
    finally:
        shown.close()  # the magic's dashboard refreshes automatically: closing stops it
    assert wait_for(lambda: not timers())


def _alpha_corner(png: bytes) -> float:
    import io

    from matplotlib import image

    pixels = image.imread(io.BytesIO(png), format="png")
    return float(pixels[0, 0, 3])


def test_a_new_users_runs_fit_the_axis_and_each_opens_its_run(
    temporal: str, workflow_name: str
) -> None:
    publish_divider(workflow_name)
    runs = run_all(workflow_name, [1, 3, 4])
    dashboard = Dashboard(workflow=workflow_name, refresh_seconds=None)
    try:
        # opens fitted to the runs: a few minutes of runs are several bars, not one of 6 h
        assert dashboard.range_control.value == "all"
        assert dashboard.data()["volume"]["runs"].sum() == 3
        # the recent runs, newest first, each a choice that opens the run
        recent = dashboard.data()["recent"]
        assert list(recent["run_id"]) == [r.run_id for r in reversed(runs)]
        assert [value for _, value in dashboard.recent_runs.options] == list(recent["run_id"])
        assert not dashboard.open_recent.disabled
        dashboard.recent_runs.value = runs[0].run_id
        dashboard.open_recent.click()
        [title, _graph] = dashboard.run_view.children
        assert runs[0].run_id in title.value and dashboard._monitor.record.status == "succeeded"
        # an error opens its latest failed run
        [(label, failed)] = dashboard.error_runs.options
        assert failed == runs[1].run_id and "ZeroDivisionError in divide" in label
        dashboard.error_runs.value = failed
        dashboard.open_error.click()
        assert dashboard._monitor.record.run_id == runs[1].run_id
        assert dashboard._monitor.record.status == "failed"
        # a run that is not there says so in the widget, nothing raised
        dashboard._open_chosen("0" * 32)
        assert "no run" in dashboard.run_view.children[0].value
        # plots on a transparent background: they read on a dark theme too
        assert _alpha_corner(bytes(dashboard.volume_plot.value)) == 0.0
        assert _alpha_corner(bytes(dashboard.duration_plot.value)) == 0.0
    finally:
        dashboard.stop()
