"""Live per-step progress of a run, shown in the notebook while ``%flowat run`` waits."""

from __future__ import annotations

import html
from typing import Any

from flowat_kernel.run_result import run_link
from flowat_kernel.store import RunRecord

__all__ = ["NotebookProgress"]

_COLOURS = {
    "pending": "#9e9e9e",
    "running": "#1e88e5",
    "retrying": "#fb8c00",
    "succeeded": "#43a047",
    "failed": "#e53935",
    "skipped": "#bdbdbd",
    "cancelled": "#6d4c41",
}


def render(record: RunRecord) -> str:
    """HTML table of the run's steps coloured by state."""
    rows = []
    for step in record.steps:
        colour = _COLOURS.get(step.status, "#000")
        took = f"{step.duration_seconds:.2f}s" if step.duration_seconds is not None else ""
        error = html.escape(str((step.error or {}).get("message", ""))) if step.error else ""
        rows.append(
            f"<tr><td>{html.escape(step.name)}</td>"
            f"<td style='color:{colour};font-weight:bold'>{step.status}</td>"
            f"<td>{step.attempts}</td><td>{took}</td><td>{error}</td></tr>"
        )
    return (
        f"<div class='flowat-progress'><b>{html.escape(record.workflow)}</b> v{record.version} "
        f"run <code>{record.run_id[:12]}</code>: <b>{record.status}</b> ({run_link(record.run_id)})"
        "<table><tr><th>step</th><th>state</th><th>attempts</th><th>time</th><th></th></tr>"
        + "".join(rows)
        + "</table></div>"
    )


class NotebookProgress:
    """A progress callback that updates one display in place."""

    def __init__(self) -> None:
        self._handle: Any = None
        self._last = ""

    def __call__(self, record: RunRecord) -> None:
        """Show (or update) the progress table for ``record``."""
        from IPython.display import HTML, display

        content = render(record)
        if content == self._last:
            return
        self._last = content
        if self._handle is None:
            self._handle = display(HTML(content), display_id=True)
        else:
            self._handle.update(HTML(content))
