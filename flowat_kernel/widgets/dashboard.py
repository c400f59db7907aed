"""The ``%flowat dashboard`` widget: run volume, failures, durations, slow steps, errors, cost.

Only ipywidgets and matplotlib are used, so the dashboard renders in JupyterLab with no
set-up: plots are drawn on matplotlib's non-interactive Agg canvas (never pyplot's global
state) into transparent PNG images in colours that read on light and dark themes, tables
are escaped HTML. It opens on all runs with the time axis fitted to them; the recent runs
and each error's latest run open as a live run graph below the panels. The plots are
drawn in :mod:`~flowat_kernel.widgets.dashboard_plots`, the tables and run pickers made in
:mod:`~flowat_kernel.widgets.dashboard_tables`.

Every panel counts the same runs: those of the chosen workflow and version queued within
the time range. ``step_stats`` and ``llm_usage`` cannot be narrowed to a version or a time
range, so those panels aggregate the same columns from ``steps`` and ``events``. Filter
values are user data: they reach DuckDB as query parameters, never as SQL text.
"""

from __future__ import annotations

import contextlib
import html
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import ipywidgets as widgets
import pandas as pd

from flowat_kernel.analytics.dashboard_data import (
    _ALL,
    _ALL_VERSIONS,
    _MAX_FAILURES,
    _RANGES,
    DEFAULT_RANGE,
    _query,
    _Snapshot,
)
from flowat_kernel.analytics.organization import caller
from flowat_kernel.analytics.views import analytics_folder
from flowat_kernel.errors import FlowAtError
from flowat_kernel.widgets.dashboard_plots import _durations_png, _volume_png
from flowat_kernel.widgets.dashboard_tables import (
    _dollars,
    _error_options,
    _offer,
    _panel,
    _recent_options,
    _table_html,
)

__all__ = ["Dashboard"]

log = logging.getLogger(__name__)


class Dashboard:
    """Runs, failure rate, durations, slowest steps, top errors and LLM cost, with filters.

    Args:
        workflow: the workflow shown first (``None``: all workflows).
        refresh_seconds: re-query this often while the widget is open (``None``: only on
            a filter change, the Refresh button or :meth:`refresh`).
        folder: the analytics folder (default: ``FLOWAT_HOME/analytics``).
        owner: the organization whose runs are shown (default: this process's
            principal's, ``FLOWAT_API_KEY``'s member or the local user); no other
            organization's events are read.
        workflows: only these workflows' runs (default: the principal's key's limit when
            ``owner`` is not given, else all).

    Raises:
        FlowAtError: ``refresh_seconds`` is not positive, or the analytics events cannot
            be read.
        Forbidden: with no ``owner``, the process's principal may not read runs.

    """

    def __init__(
        self,
        workflow: str | None = None,
        refresh_seconds: float | None = 5.0,
        folder: Path | None = None,
        owner: str | None = None,
        workflows: tuple[str, ...] | None = None,
    ) -> None:
        self.folder = folder or analytics_folder()
        if owner is None:
            principal = caller()
            owner, workflows = principal.owner, principal.workflows
        self.owner, self.workflows = owner, workflows
        if refresh_seconds is not None and not refresh_seconds > 0:
            raise FlowAtError(
                f"refresh_seconds must be a positive number of seconds or None (no automatic "
                f"refresh), not {refresh_seconds!r}"
            )
        self.refresh_seconds = refresh_seconds
        self._lock = threading.RLock()  # one refresh at a time: timer, button, filters
        self._local = threading.local()  # set while the dashboard itself moves a control
        self._timer_lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._stopped = threading.Event()
        self._failures = 0
        self._frames: dict[str, pd.DataFrame] = {}
        self._drawn: dict[int, tuple[pd.DataFrame, Any]] = {}  # plot -> what it shows

        self._workflow_options = [("all", _ALL)] + ([(workflow, workflow)] if workflow else [])
        self.workflow_control = widgets.Dropdown(
            description="workflow", options=self._workflow_options, value=workflow or _ALL
        )
        self._version_options: list[tuple[str, int]] = [("all", _ALL_VERSIONS)]
        self.version_control = widgets.Dropdown(
            description="version", options=self._version_options, value=_ALL_VERSIONS
        )
        self.range_control = widgets.Dropdown(
            description="time range",
            options=[(label, key) for key, (label, _, _) in _RANGES.items()],
            value=DEFAULT_RANGE,
        )
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.status = widgets.HTML()
        self.volume_plot = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.volume_note = widgets.HTML()
        self.duration_plot = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.duration_note = widgets.HTML()
        self.steps_table = widgets.HTML()
        self.errors_table = widgets.HTML()
        self.llm_table = widgets.HTML()
        wide = widgets.Layout(width="100%")
        self.recent_runs = widgets.Select(options=[], rows=8, layout=wide)
        self.open_recent = widgets.Button(description="Open run", icon="external-link")
        self.error_runs = widgets.Dropdown(
            description="last run of", options=[], layout=widgets.Layout(width="70%")
        )
        self.open_error = widgets.Button(description="Open run", icon="external-link")
        self.run_view = widgets.VBox()
        self._monitor: Any = None
        self.widget = widgets.VBox(
            [
                widgets.HTML("<h3>FlowAt dashboard</h3>"),
                widgets.HBox(
                    [
                        self.workflow_control,
                        self.version_control,
                        self.range_control,
                        self.refresh_button,
                    ]
                ),
                self.status,
                _panel("Runs and failure rate", self.volume_note, self.volume_plot),
                _panel(
                    "Run duration by version (p50, p95)", self.duration_note, self.duration_plot
                ),
                _panel("Recent runs", self.recent_runs, self.open_recent),
                _panel("Slowest steps (by p95)", self.steps_table),
                _panel(
                    "Top errors",
                    self.errors_table,
                    widgets.HBox([self.error_runs, self.open_error]),
                ),
                _panel("LLM cost", self.llm_table),
                self.run_view,
            ]
        )
        self.open_recent.on_click(lambda _button: self._open_chosen(self.recent_runs.value))
        self.open_error.on_click(lambda _button: self._open_chosen(self.error_runs.value))
        for control in (self.workflow_control, self.version_control, self.range_control):
            control.observe(self._on_filter, names="value")
        self.refresh_button.on_click(lambda _button: self._refresh_logged())
        self.widget.observe(self._on_comm, names="comm")
        self.refresh()
        if refresh_seconds is not None:
            self._schedule()

    # -- public -----------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-query the analytics views and update every panel.

        Raises:
            FlowAtError: the analytics events cannot be read (also shown in the widget).

        """
        with self._lock:
            workflow = self.workflow_control.value or None
            version = self.version_control.value or None
            try:
                snapshot = _query(
                    self.folder,
                    workflow,
                    version,
                    self.range_control.value,
                    owner=self.owner,
                    workflows=self.workflows,
                )
            except (duckdb.Error, OSError) as exc:
                message = (
                    f"the dashboard could not read the analytics events ({exc}); check that "
                    "FLOWAT_HOME/analytics is readable, then press Refresh"
                )
                self.status.value = f"<p style='color:#b00020'>{html.escape(message)}</p>"
                raise FlowAtError(message) from exc
            self._sync_controls(snapshot)
            self._frames = snapshot.frames
            self._show(snapshot)

    def open_run(self, run_id: str) -> Any:
        """Show run ``run_id`` (full or short id) under the panels: its graph, coloured live.

        Returns the :class:`~flowat_kernel.widgets.monitor.RunMonitor` shown.

        Raises:
            FlowAtError: no such run in this organization, or the role may not read runs.

        """
        from flowat_kernel.widgets.monitor import RunMonitor

        monitor = RunMonitor(run_id)
        with self._lock:
            if self._monitor is not None:
                self._monitor.stop()
            self._monitor = monitor
            self.run_view.children = [
                widgets.HTML(f"<h4>Run {html.escape(monitor.record.run_id)}</h4>"),
                monitor.widget,
            ]
        return monitor

    def _open_chosen(self, run_id: str | None) -> None:
        if not run_id:
            return
        try:
            self.open_run(run_id)
        except FlowAtError as exc:
            self.run_view.children = [
                widgets.HTML(f"<p style='color:#b00020'>{html.escape(str(exc))}</p>")
            ]

    def data(self) -> dict[str, pd.DataFrame]:
        """The data frames on display: volume, durations, slowest_steps, errors, llm, recent."""
        with self._lock:
            return dict(self._frames)

    def stop(self) -> None:
        """Stop refreshing automatically (the widget stays, and still answers its filters)."""
        monitor = self._monitor
        if monitor is not None:
            monitor.stop()
        with self._timer_lock:
            self._stopped.set()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    @property
    def auto_refreshing(self) -> bool:
        """Whether a timer re-queries every ``refresh_seconds``."""
        return self.refresh_seconds is not None and not self._stopped.is_set()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- controls ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """Move controls without the moves counting as the user's filter changes."""
        previous = getattr(self._local, "quiet", False)
        self._local.quiet = True
        try:
            yield
        finally:
            self._local.quiet = previous

    def _on_filter(self, change: dict[str, Any]) -> None:
        if getattr(self._local, "quiet", False):
            return
        if change["owner"] is self.workflow_control:
            with self._quiet():
                self.version_control.value = _ALL_VERSIONS
        self._refresh_logged()

    def _on_comm(self, change: dict[str, Any]) -> None:
        if change["new"] is None:  # the widget was closed
            self.stop()

    def _sync_controls(self, snapshot: _Snapshot) -> None:
        """Offer the workflows and versions seen so far; keep the chosen values."""
        chosen = self.workflow_control.value
        names = sorted(set(snapshot.workflows) | ({chosen} if chosen else set()))
        versions, _ = snapshot.workflows.get(chosen, ([], 0))
        version = self.version_control.value
        numbers = sorted(set(versions) | ({version} if version else set()))
        with self._quiet():
            options = [("all", _ALL), *((name, name) for name in names)]
            if options != self._workflow_options:
                self._workflow_options = options
                self.workflow_control.options = options  # resets the value: put it back
                self.workflow_control.value = chosen
            version_options = [("all", _ALL_VERSIONS), *((f"v{n}", n) for n in numbers)]
            if version_options != self._version_options:
                self._version_options = version_options
                self.version_control.options = version_options
                self.version_control.value = version
            self.version_control.disabled = not chosen

    # -- panels -----------------------------------------------------------------------

    def _show(self, snapshot: _Snapshot) -> None:
        frames = snapshot.frames
        volume, durations = frames["volume"], frames["durations"]
        one_workflow = bool(self.workflow_control.value)
        self.status.value = self._status_html(snapshot)
        empty = "no runs yet" if volume.empty else ""
        self._draw(
            self.volume_plot,
            self.volume_note,
            volume,
            (snapshot.bucket_seconds, snapshot.window),
            lambda: _volume_png(volume, snapshot.bucket_seconds, snapshot.window),
            empty,
        )
        self._draw(
            self.duration_plot,
            self.duration_note,
            durations,
            (one_workflow,),
            lambda: _durations_png(durations, one_workflow),
            empty or ("no finished runs yet" if durations.empty else ""),
        )

        def shown(frame: pd.DataFrame) -> pd.DataFrame:
            return frame.drop(columns=["workflow"]) if one_workflow else frame

        self.steps_table.value = _table_html(shown(frames["slowest_steps"]), "no steps ran yet")
        errors = frames["errors"]
        self.errors_table.value = _table_html(shown(errors.drop(columns=["last_run"])), "no errors")
        with self._quiet():
            _offer(self.recent_runs, _recent_options(frames["recent"], one_workflow))
            _offer(self.error_runs, _error_options(errors, one_workflow))
        self.open_recent.disabled = not self.recent_runs.options
        self.open_error.disabled = not self.error_runs.options
        llm = frames["llm"]
        total = "" if llm.empty else f"<p>total: {_dollars(llm['cost_usd'].sum(min_count=1))}</p>"
        self.llm_table.value = total + _table_html(shown(llm), "no LLM calls")

    def _draw(
        self,
        image: Any,
        note: Any,
        frame: pd.DataFrame,
        extra: tuple[Any, ...],
        render: Callable[[], bytes],
        empty: str,
    ) -> None:
        """Draw one plot (or say why there is none), unless it would look as it does now."""
        key = (extra, empty)
        previous = self._drawn.get(id(image))
        if previous is not None and previous[1] == key and previous[0].equals(frame):
            return
        self._drawn[id(image)] = (frame.copy(), key)
        note.value = f"<p><i>{html.escape(empty)}</i></p>" if empty else ""
        if empty:
            image.value = b""
            image.layout.display = "none"
        else:
            image.value = render()
            image.layout.display = None

    def _status_html(self, snapshot: _Snapshot) -> str:
        volume = snapshot.frames["volume"]
        chosen = self.workflow_control.value
        label = _RANGES[self.range_control.value][0]
        within = "so far" if self.range_control.value == "all" else f"in the {label}"
        subject = f"runs of {chosen}" if chosen else "runs"
        if self.version_control.value:
            subject += f" v{self.version_control.value}"
        if volume.empty:
            if chosen:
                total = snapshot.workflows.get(chosen, ([], 0))[1]
            else:
                total = sum(n for _, n in snapshot.workflows.values())
            if total == 0:
                text = (
                    f"No {subject} yet: run a workflow (%flowat run NAME) and it shows up here."
                    if not chosen
                    else f"No {subject} yet."
                )
            else:
                text = f"No {subject} {within} ({total} in total: choose a longer range)."
        else:
            runs, ok, failed = (int(volume[c].sum()) for c in ("runs", "succeeded", "failed"))
            finished = runs - int(volume["active"].sum())
            rate = f" ({failed / finished:.0%} of finished)" if finished else ""
            text = (
                f"{runs} {subject} {within}: {ok} succeeded, {failed} failed{rate}, "
                f"{runs - ok - failed} other."
            )
        updated = datetime.now(UTC).strftime("%H:%M:%S UTC")
        auto = f", refreshing every {self.refresh_seconds:g} s" if self.auto_refreshing else ""
        return f"<p>{html.escape(text)} <small>Updated {updated}{auto}.</small></p>"

    # -- automatic refresh ------------------------------------------------------------

    def _refresh_logged(self) -> bool:
        """Refresh from a callback or the timer: errors are shown and logged, not raised."""
        try:
            self.refresh()
        except Exception as exc:
            log.warning("dashboard refresh failed: %s", exc)
            if not isinstance(exc, FlowAtError):  # a FlowAtError is already on display
                message = f"the dashboard could not refresh: {type(exc).__name__}: {exc}"
                self.status.value = f"<p style='color:#b00020'>{html.escape(message)}</p>"
            return False
        return True

    def _schedule(self) -> None:
        with self._timer_lock:
            if self._stopped.is_set() or self.refresh_seconds is None:
                return
            self._timer = threading.Timer(self.refresh_seconds, self._tick)
            self._timer.name = "flowat-dashboard"
            self._timer.daemon = True
            self._timer.start()

    def _tick(self) -> None:
        if self._stopped.is_set() or self.widget.comm is None:  # stopped, or widget closed
            self.stop()
            return
        self._failures = 0 if self._refresh_logged() else self._failures + 1
        if self._failures >= _MAX_FAILURES:
            self.stop()
            self.status.value += "<p><i>Automatic refresh stopped: press Refresh.</i></p>"
            return
        self._schedule()
