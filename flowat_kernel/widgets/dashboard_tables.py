"""The dashboard's tables and run pickers: escaped HTML tables, run choices, panels."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets
import pandas as pd


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


def _seconds(milliseconds: Any) -> str:
    return "" if pd.isna(milliseconds) else f"{float(milliseconds) / 1000:.2f} s"


def _recent_options(frame: pd.DataFrame, one_workflow: bool) -> list[tuple[str, str]]:
    """The recent runs as (label, run id), newest first."""
    options = []
    for row in frame.to_dict("records"):
        queued, run_id = row["queued_at"], str(row["run_id"])
        when = "" if pd.isna(queued) else queued.strftime("%Y-%m-%d %H:%M:%S")
        what = f"v{row['version']}" if one_workflow else f"{row['workflow']} v{row['version']}"
        took = _seconds(row["duration_ms"])
        options.append((f"{when}  {what}  {row['status']}  {took}  {run_id[:12]}", run_id))
    return options


def _error_options(frame: pd.DataFrame, one_workflow: bool) -> list[tuple[str, str]]:
    """Each error row as (label, its latest run's id)."""
    options = []
    for row in frame.to_dict("records"):
        run_id = str(row["last_run"])
        where = row["step"] if one_workflow else f"{row['workflow']}: {row['step']}"
        options.append((f"{row['error_type']} in {where} ({run_id[:12]})", run_id))
    return options


def _offer(control: Any, options: list[tuple[str, str]]) -> None:
    """Set a picker's options, keeping the chosen value when it is still offered."""
    if list(control.options) == options:
        return
    chosen = control.value
    control.options = options
    if chosen in {value for _, value in options}:
        control.value = chosen


def _panel(title: str, *children: Any) -> Any:
    return widgets.VBox([widgets.HTML(f"<h4>{html.escape(title)}</h4>"), *children])
