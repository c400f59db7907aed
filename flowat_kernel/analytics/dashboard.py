"""The ``%flowat dashboard`` widget: run volume, failures, durations, slow steps, errors, cost.

Only ipywidgets and matplotlib are used, so the dashboard renders in JupyterLab with no
set-up: plots are drawn on matplotlib's non-interactive Agg canvas (never pyplot's global
state) into PNG images, tables are escaped HTML.

Every panel counts the same runs: those of the chosen workflow and version queued within
the time range. ``step_stats`` and ``llm_usage`` cannot be narrowed to a version or a time
range, so those panels aggregate the same columns from ``steps`` and ``events``. Filter
values are user data: they reach DuckDB as query parameters, never as SQL text.
"""

from __future__ import annotations

import contextlib
import html
import io
import logging
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import ipywidgets as widgets
import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from flowat_kernel.analytics.views import connect
from flowat_kernel.errors import FlowAtError

__all__ = ["Dashboard"]

log = logging.getLogger(__name__)

_ALL = ""  # "all workflows": no workflow name is empty
_ALL_VERSIONS = 0  # "all versions": version numbers start at 1
#: Time range key -> (label, how far back, bucket seconds).
_RANGES: dict[str, tuple[str, timedelta | None, int]] = {
    "hour": ("last hour", timedelta(hours=1), 300),
    "day": ("last 24 hours", timedelta(days=1), 3600),
    "week": ("last 7 days", timedelta(days=7), 6 * 3600),
    "month": ("last 30 days", timedelta(days=30), 86400),
    "all": ("all time", None, 0),
}
_BUCKETS = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400)
_MAX_BARS = 48
_MAX_FAILURES = 3  # consecutive failed automatic refreshes before the timer gives up
_STACK = (  # volume columns, bottom to top
    ("succeeded", "#4c9a5b", "succeeded"),
    ("failed", "#d1495b", "failed"),
    ("stopped", "#edae49", "cancelled / timed out"),
    ("active", "#8fb8de", "queued / running"),
)

_PICKED = """
WITH picked AS (
    SELECT *, coalesce(queued_at, started_at, ended_at) AS run_at
    FROM runs
    WHERE workflow IS NOT NULL
      AND ($workflow IS NULL OR workflow = $workflow)
      AND ($version IS NULL OR version = $version)
      AND ($since IS NULL OR coalesce(queued_at, started_at, ended_at) >= $since)
)
"""
_QUERIES = {
    "span": "SELECT min(run_at), max(run_at) FROM picked",
    "volume": """
        SELECT to_timestamp(floor(epoch(run_at) / $bucket) * $bucket) AS bucket,
               count(*) AS runs,
               count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE status IN ('cancelled', 'timed_out')) AS stopped,
               count(*) FILTER (WHERE status IN ('queued', 'running')) AS active,
               count(*) FILTER (WHERE status = 'failed')
                   / nullif(count(*) FILTER (WHERE status NOT IN ('queued', 'running')), 0)
                   AS failure_rate
        FROM picked GROUP BY bucket ORDER BY bucket""",
    "durations": """
        SELECT workflow, version, count(*) AS runs,
               quantile_cont(duration_ms, 0.5) AS p50_ms,
               quantile_cont(duration_ms, 0.95) AS p95_ms
        FROM picked WHERE duration_ms IS NOT NULL
        GROUP BY workflow, version ORDER BY workflow, version""",
    "slowest_steps": """
        SELECT workflow, step, count(*) AS executions,
               count(*) FILTER (WHERE status = 'failed') AS failures,
               sum(retries) AS retries,
               quantile_cont(duration_ms, 0.5) AS p50_ms,
               quantile_cont(duration_ms, 0.95) AS p95_ms
        FROM steps
        WHERE status IN ('succeeded', 'failed') AND run_id IN (SELECT run_id FROM picked)
        GROUP BY workflow, step ORDER BY p95_ms DESC NULLS LAST, workflow, step LIMIT 10""",
    "errors": """
        SELECT workflow, error_type, step, count(*) AS failures, max(run_at) AS last_seen
        FROM (
            SELECT workflow, coalesce(error_type, 'unknown') AS error_type, step,
                   coalesce(ended_at, started_at) AS run_at
            FROM steps
            WHERE status = 'failed' AND run_id IN (SELECT run_id FROM picked)
            UNION ALL
            SELECT workflow, coalesce(error_type, 'unknown'), '(run)', coalesce(ended_at, run_at)
            FROM picked p
            WHERE status = 'failed' AND NOT EXISTS (
                SELECT 1 FROM steps s WHERE s.run_id = p.run_id AND s.status = 'failed')
        )
        GROUP BY workflow, error_type, step
        ORDER BY failures DESC, last_seen DESC LIMIT 10""",
    "llm": """
        SELECT workflow, model, step, count(*) AS calls,
               sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out,
               sum(cost_usd) AS cost_usd
        FROM events
        WHERE event = 'action' AND model IS NOT NULL
          AND run_id IN (SELECT run_id FROM picked)
        GROUP BY workflow, model, step ORDER BY cost_usd DESC NULLS LAST, calls DESC""",
}
_OPTIONS = """
    SELECT workflow, list(DISTINCT version ORDER BY version) FILTER (WHERE version IS NOT NULL),
           count(*)
    FROM runs WHERE workflow IS NOT NULL GROUP BY workflow ORDER BY workflow"""


@dataclass
class _Snapshot:
    """What one query of the views returned, and the time axis to draw it on."""

    workflows: dict[str, tuple[list[int], int]]  # name -> (versions, runs in total)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    bucket_seconds: int = 3600
    window: tuple[datetime, datetime] | None = None  # None: fit the data


def _query(workflow: str | None, version: int | None, range_key: str) -> _Snapshot:
    """Read everything the dashboard shows, over one connection."""
    from flowat_kernel.runtime import get_runtime

    runtime = get_runtime()
    runtime.events.flush()  # this process's pending events count too
    _, back, bucket = _RANGES[range_key]
    now = datetime.now(UTC)
    params: dict[str, Any] = {
        "workflow": workflow,
        "version": version,
        "since": None if back is None else now - back,
    }
    with connect(runtime.settings.home / "analytics") as connection:
        rows = connection.execute(_OPTIONS).fetchall()
        snapshot = _Snapshot({str(name): (list(vs or []), int(n)) for name, vs, n in rows})
        if back is None:
            first, last = connection.execute(_PICKED + _QUERIES["span"], params).fetchone() or (
                None,
                None,
            )
            span = (last - first).total_seconds() if first and last else 0.0
            bucket = next((b for b in _BUCKETS if span / b <= _MAX_BARS), _BUCKETS[-1])
        else:
            start = math.floor((now - back).timestamp() / bucket) * bucket
            end = math.ceil(now.timestamp() / bucket) * bucket
            snapshot.window = (datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))
        snapshot.bucket_seconds = bucket
        for name in ("volume", "durations", "slowest_steps", "errors", "llm"):
            extra = {"bucket": bucket} if name == "volume" else {}
            relation = connection.execute(_PICKED + _QUERIES[name], {**params, **extra})
            snapshot.frames[name] = relation.df()
    return snapshot


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _volume_png(
    frame: pd.DataFrame, bucket_seconds: int, window: tuple[datetime, datetime] | None
) -> bytes:
    figure = Figure(figsize=(9, 3.2), dpi=96, layout="constrained")
    axes = figure.add_subplot()
    x = frame["bucket"].dt.tz_convert(None).to_numpy()
    width = np.timedelta64(bucket_seconds, "s")
    bottom = np.zeros(len(frame))
    for column, colour, label in _STACK:
        heights = frame[column].to_numpy(dtype=float)
        if heights.any():
            axes.bar(
                x, heights, width * 0.9, bottom=bottom, align="edge", color=colour, label=label
            )
        bottom += heights
    axes.set_ylabel("runs")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    if window is not None:
        axes.set_xlim(*np.array([w.replace(tzinfo=None) for w in window], dtype="datetime64[s]"))
    else:
        axes.set_xlim(x.min() - width / 2, x.max() + width * 3 / 2)
    rate = axes.twinx()
    rate.plot(
        x + width / 2,
        frame["failure_rate"].to_numpy(dtype=float, na_value=np.nan) * 100,
        color="#30343f",
        marker="o",
        label="failure rate",
    )
    rate.set_ylim(0, 105)
    rate.yaxis.set_major_formatter(PercentFormatter())
    handles, labels = axes.get_legend_handles_labels()
    more_handles, more_labels = rate.get_legend_handles_labels()
    axes.legend(handles + more_handles, labels + more_labels, loc="upper left", fontsize="small")
    axes.set_xlabel("UTC")
    return _png(figure)


def _durations_png(frame: pd.DataFrame, one_workflow: bool) -> bytes:
    frame = frame.tail(20)
    seconds = bool(frame["p95_ms"].max() >= 2000)
    scale, unit = (1000.0, "s") if seconds else (1.0, "ms")
    labels = [
        f"v{v}" if one_workflow else f"{w} v{v}"
        for w, v in zip(frame["workflow"], frame["version"], strict=True)
    ]
    figure = Figure(figsize=(9, 3.2), dpi=96, layout="constrained")
    axes = figure.add_subplot()
    where = np.arange(len(frame))
    axes.bar(where - 0.2, frame["p50_ms"].to_numpy(dtype=float) / scale, 0.4, label="p50")
    axes.bar(where + 0.2, frame["p95_ms"].to_numpy(dtype=float) / scale, 0.4, label="p95")
    axes.set_xticks(where, labels, rotation=0 if one_workflow else 30, ha="center")
    axes.set_ylabel(f"run duration ({unit})")
    axes.legend(loc="upper left", fontsize="small")
    return _png(figure)


def _table_html(frame: pd.DataFrame, empty: str) -> str:
    if frame.empty:
        return f"<p><i>{html.escape(empty)}</i></p>"
    shown = frame.copy()
    for column in shown.columns:
        if column == "cost_usd":
            shown[column] = [_dollars(v) for v in shown[column]]
        elif isinstance(shown[column].dtype, pd.DatetimeTZDtype):
            shown[column] = shown[column].dt.strftime("%Y-%m-%d %H:%M:%S")
    return shown.to_html(
        index=False, escape=True, na_rep="-", border=0, float_format="{:,.1f}".format
    )


def _dollars(value: Any) -> str:
    return "-" if pd.isna(value) else f"${float(value):,.4f}"


def _panel(title: str, *children: Any) -> Any:
    return widgets.VBox([widgets.HTML(f"<h4>{html.escape(title)}</h4>"), *children])


class Dashboard:
    """Runs, failure rate, durations, slowest steps, top errors and LLM cost, with filters.

    Args:
        workflow: the workflow shown first (``None``: all workflows).
        refresh_seconds: re-query this often while the widget is open (``None``: only on
            a filter change, the Refresh button or :meth:`refresh`).

    Raises:
        FlowAtError: ``refresh_seconds`` is not positive, or the analytics events cannot
            be read.

    """

    def __init__(self, workflow: str | None = None, refresh_seconds: float | None = 5.0) -> None:
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
        self._drawn: dict[int, tuple[Any, ...]] = {}  # plot -> what it was last drawn from

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
            value="week",
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
                _panel("Slowest steps (by p95)", self.steps_table),
                _panel("Top errors", self.errors_table),
                _panel("LLM cost", self.llm_table),
            ]
        )
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
                snapshot = _query(workflow, version, self.range_control.value)
            except duckdb.Error as exc:
                message = (
                    f"the dashboard could not read the analytics events ({exc}); check that "
                    "FLOWAT_HOME/analytics is readable, then press Refresh"
                )
                self.status.value = f"<p style='color:#b00020'>{html.escape(message)}</p>"
                raise FlowAtError(message) from exc
            self._sync_controls(snapshot)
            self._frames = snapshot.frames
            self._show(snapshot)

    def data(self) -> dict[str, pd.DataFrame]:
        """The data frames on display: volume, durations, slowest_steps, errors, llm."""
        with self._lock:
            return dict(self._frames)

    def stop(self) -> None:
        """Stop refreshing automatically (the widget stays, and still answers its filters)."""
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
            (volume, snapshot.bucket_seconds, snapshot.window),
            lambda: _volume_png(volume, snapshot.bucket_seconds, snapshot.window),
            empty,
        )
        self._draw(
            self.duration_plot,
            self.duration_note,
            (durations, one_workflow),
            lambda: _durations_png(durations, one_workflow),
            empty or ("no finished runs yet" if durations.empty else ""),
        )

        def shown(frame: pd.DataFrame) -> pd.DataFrame:
            return frame.drop(columns=["workflow"]) if one_workflow else frame

        self.steps_table.value = _table_html(shown(frames["slowest_steps"]), "no steps ran yet")
        self.errors_table.value = _table_html(shown(frames["errors"]), "no errors")
        llm = frames["llm"]
        total = "" if llm.empty else f"<p>total: {_dollars(llm['cost_usd'].sum(min_count=1))}</p>"
        self.llm_table.value = total + _table_html(shown(llm), "no LLM calls")

    def _draw(
        self,
        image: Any,
        note: Any,
        source: tuple[Any, ...],
        render: Callable[[], bytes],
        empty: str,
    ) -> None:
        """Draw one plot (or say why there is none), unless it would look as it does now."""
        previous = self._drawn.get(id(image))
        if (
            previous is not None
            and previous[0].equals(source[0])
            and previous[1:] == source[1:]
            and previous[-1] == empty
        ):
            return
        self._drawn[id(image)] = (source[0].copy(), *source[1:], empty)
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
                text = f"No {subject} in the {label} ({total} in total: choose a longer range)."
        else:
            runs, ok, failed = (int(volume[c].sum()) for c in ("runs", "succeeded", "failed"))
            finished = runs - int(volume["active"].sum())
            rate = f" ({failed / finished:.0%} of finished)" if finished else ""
            text = (
                f"{runs} {subject} in the {label}: {ok} succeeded, {failed} failed{rate}, "
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
