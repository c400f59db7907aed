"""The dashboard's plots: run volume with failure rate, and run durations by version.

Drawn on matplotlib's non-interactive Agg canvas (never pyplot's global state) into
transparent PNG images, in colours that read on JupyterLab's light and dark themes.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from flowat_kernel.analytics.dashboard_data import _STACK

#: Text, axes and grid in a mid grey on a transparent background: the plots read on
#: JupyterLab's light and dark themes alike (the kernel does not know which is shown).
_THEMELESS: Any = {
    "text.color": "#8a8f99",
    "axes.labelcolor": "#8a8f99",
    "axes.edgecolor": "#8a8f99",
    "xtick.color": "#8a8f99",
    "ytick.color": "#8a8f99",
    "axes.facecolor": "none",
    "figure.facecolor": "none",
    "savefig.transparent": True,
}
_RATE_COLOUR = "#7b6fd6"  # the failure-rate line: visible on white and on near-black


def _figure() -> Figure:
    with mpl.rc_context(_THEMELESS):
        return Figure(figsize=(9, 3.2), dpi=96, layout="constrained")


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    with mpl.rc_context(_THEMELESS):
        figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _volume_png(
    frame: pd.DataFrame, bucket_seconds: int, window: tuple[datetime, datetime] | None
) -> bytes:
    with mpl.rc_context(_THEMELESS):
        return _draw_volume(frame, bucket_seconds, window)


def _draw_volume(
    frame: pd.DataFrame, bucket_seconds: int, window: tuple[datetime, datetime] | None
) -> bytes:
    figure = _figure()
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
        color=_RATE_COLOUR,
        marker="o",
        label="failure rate",
    )
    rate.set_ylim(0, 105)
    rate.yaxis.set_major_formatter(PercentFormatter())
    handles, labels = axes.get_legend_handles_labels()
    more_handles, more_labels = rate.get_legend_handles_labels()
    axes.legend(
        handles + more_handles,
        labels + more_labels,
        loc="lower left",
        bbox_to_anchor=(0, 1.0),
        ncols=len(handles) + len(more_handles),
        fontsize="small",
        frameon=False,
    )
    axes.set_xlabel("UTC")
    return _png(figure)


def _durations_png(frame: pd.DataFrame, one_workflow: bool) -> bytes:
    with mpl.rc_context(_THEMELESS):
        return _draw_durations(frame, one_workflow)


def _draw_durations(frame: pd.DataFrame, one_workflow: bool) -> bytes:
    """p50 and p95 of succeeded runs as bars, the failed runs' p50 as a red mark."""
    frame = frame.tail(20)
    top = np.nanmax(
        frame[["p95_ms", "failed_p50_ms"]].to_numpy(dtype=float, na_value=np.nan), initial=0.0
    )
    scale, unit = (1000.0, "s") if top >= 2000 else (1.0, "ms")
    labels = [
        f"v{v}" if one_workflow else f"{w} v{v}"
        for w, v in zip(frame["workflow"], frame["version"], strict=True)
    ]
    figure = _figure()
    axes = figure.add_subplot()
    where = np.arange(len(frame))

    def values(column: str) -> Any:
        return frame[column].to_numpy(dtype=float, na_value=np.nan) / scale

    axes.bar(where - 0.2, values("p50_ms"), 0.4, label="succeeded p50", color="#4c9a5b")
    axes.bar(where + 0.2, values("p95_ms"), 0.4, label="succeeded p95", color="#8fc79a")
    failed = values("failed_p50_ms")
    if not np.isnan(failed).all():
        axes.scatter(where, failed, marker="x", s=60, color="#d1495b", label="failed p50")
    axes.set_xticks(where, labels, rotation=0 if one_workflow else 30, ha="center")
    axes.set_ylabel(f"run duration ({unit})")
    axes.legend(loc="upper left", fontsize="small", frameon=False)
    return _png(figure)
