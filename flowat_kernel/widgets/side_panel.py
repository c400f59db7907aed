"""The side panel: the selected step's settings as a form, applied to the draft."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from flowat_kernel.compiler.draft import DraftStep
from flowat_kernel.compiler.header import parse_duration
from flowat_kernel.compiler.header_writer import format_duration
from flowat_kernel.errors import FlowAtError

__all__ = ["StepForm", "parse_mappings"]

_BODY_LABELS = {
    "code": "code (edit it in its notebook cell)",
    "action": "action inputs: one name = value per line",
    "workflow": "sub-workflow parameters: one name = value per line",
}


def parse_mappings(text: str, option: str) -> tuple[tuple[str, str], ...]:
    """``NAME=EXPRESSION`` lines (blank lines ignored) as pairs.

    Raises:
        FlowAtError: a line is not ``NAME=EXPRESSION``.

    """
    pairs = []
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, expression = line.partition("=")
        if not sep or not name.strip().isidentifier() or not expression.strip():
            raise FlowAtError(f"{option}: write each line as NAME=EXPRESSION, not {line!r}")
        pairs.append((name.strip(), expression.strip()))
    return tuple(pairs)


def _text(description: str, placeholder: str = "") -> widgets.Text:
    return widgets.Text(
        description=description,
        placeholder=placeholder,
        style={"description_width": "80px"},
        layout=widgets.Layout(width="100%"),
    )


class StepForm:
    """Settings of one step: name, retries, timeout, local, when, foreach, mappings, body.

    Args:
        on_apply: called with (step name, header changes, new body or ``None``).
        on_delete: called with the step name.
        on_write: called with the step name to write a step without a cell out as a
            new cell (no button when ``None``).

    """

    def __init__(
        self,
        on_apply: Callable[[str, dict[str, Any], str | None], None],
        on_delete: Callable[[str], None],
        on_write: Callable[[str], object] | None = None,
    ) -> None:
        self._on_apply = on_apply
        self._on_delete = on_delete
        self._on_write = on_write
        self.step: DraftStep | None = None
        self.title = widgets.HTML("<i>select a step in the graph</i>")
        self.name = _text("name")
        self.retries = _text("retries", "2 (default)")
        self.timeout = _text("timeout", "600s (default)")
        self.local = widgets.Checkbox(description="local activity", indent=False)
        self.after = _text("after", "A,B")
        self.when = _text("when", "expression; false skips the step")
        self.foreach = _text("foreach", "list expression")
        self.map_in = widgets.Textarea(placeholder="--in: name=expression per line")
        self.map_out = widgets.Textarea(placeholder="--out: name=expression per line")
        self.body_label = widgets.HTML()
        self.body = widgets.Textarea(layout=widgets.Layout(width="100%", height="90px"))
        self.problems = widgets.HTML()
        self.apply_button = widgets.Button(description="Apply", button_style="primary")
        self.delete_button = widgets.Button(description="Delete step", button_style="danger")
        self.write_button = widgets.Button(description="Write as cell", icon="file-code-o")
        self.write_button.layout.display = "none"
        for button in (self.apply_button, self.delete_button, self.write_button):
            button.layout.width = "auto"  # three fit in the panel's width
        self.apply_button.on_click(lambda _: self.apply())
        self.delete_button.on_click(lambda _: self._delete())
        self.write_button.on_click(lambda _: self._write())
        for area in (self.map_in, self.map_out):
            area.layout = widgets.Layout(width="100%", height="48px")
        self.fields = widgets.VBox(
            [
                self.name,
                self.retries,
                self.timeout,
                self.local,
                self.after,
                self.when,
                self.foreach,
                widgets.HTML("<small>input mappings (--in)</small>"),
                self.map_in,
                widgets.HTML("<small>output mappings (--out)</small>"),
                self.map_out,
                self.body_label,
                self.body,
                widgets.HBox(
                    [self.apply_button, self.delete_button, self.write_button],
                    layout=widgets.Layout(flex_flow="row wrap"),
                ),
            ]
        )
        self.widget = widgets.VBox(
            [self.title, self.problems, self.fields],
            layout=widgets.Layout(width="340px", min_width="300px", padding="0 8px"),
        )
        self.fields.layout.display = "none"

    def show(self, step: DraftStep | None, problems: list[str] | None = None) -> None:
        """Fill the form from ``step`` (``None``: empty) and its compile problems."""
        self.step = step
        self.show_problems(problems or [])
        if step is None:
            self.title.value = "<i>select a step in the graph</i>"
            self.fields.layout.display = "none"
            return
        header = step.header
        where = f" · cell <code>{html.escape(step.cell_id)}</code>" if step.cell_id else ""
        self.title.value = (
            f"<b>{html.escape(header.name)}</b> <small>{html.escape(header.kind)}{where}</small>"
        )
        self.name.value = header.name
        self.retries.value = "" if header.retries is None else str(header.retries)
        self.timeout.value = (
            "" if header.timeout_seconds is None else format_duration(header.timeout_seconds)
        )
        self.local.value = header.local
        self.after.value = ",".join(header.after)
        self.when.value = header.when or ""
        self.foreach.value = header.foreach or ""
        self.map_in.value = "\n".join(f"{n}={e}" for n, e in header.map_in)
        self.map_out.value = "\n".join(f"{n}={e}" for n, e in header.map_out)
        self.body_label.value = (
            f"<small>{_BODY_LABELS.get(header.kind, header.kind + ' expression')}</small>"
        )
        self.body.value = step.body
        self.body.disabled = header.kind == "code"
        logic = header.logic is not None
        for field in (self.retries, self.local, self.foreach, self.map_in, self.map_out):
            field.disabled = logic
        without_cell = not (step.cell_id or step.cell_line)
        self.write_button.layout.display = "" if self._on_write and without_cell else "none"
        self.fields.layout.display = "flex"

    def show_problems(self, problems: list[str]) -> None:
        """List compile problems of this step in red."""
        self.problems.value = "".join(
            f"<div style='color:#d50000'>⚠ {html.escape(p)}</div>" for p in problems
        )

    def changes(self) -> dict[str, Any]:
        """The header settings the form holds.

        Raises:
            FlowAtError: a value is malformed (a duration, a number, a mapping).

        """
        retries = self.retries.value.strip()
        timeout = self.timeout.value.strip()
        try:
            timeout_seconds = parse_duration(timeout) if timeout else None
        except ValueError as exc:
            raise FlowAtError(f"timeout: {exc}") from None
        if retries and not retries.isdigit():
            raise FlowAtError(f"retries: give a whole number from 0 to 100, not {retries!r}")
        return {
            "name": self.name.value.strip(),
            "retries": int(retries) if retries else None,
            "timeout_seconds": timeout_seconds,
            "local": bool(self.local.value),
            "after": tuple(a.strip() for a in self.after.value.split(",") if a.strip()),
            "when": self.when.value.strip() or None,
            "foreach": self.foreach.value.strip() or None,
            "map_in": parse_mappings(self.map_in.value, "--in"),
            "map_out": parse_mappings(self.map_out.value, "--out"),
        }

    def apply(self) -> None:
        """Send the form's settings (and body, unless code) to the editor."""
        if self.step is None:
            return
        try:
            changes = self.changes()
        except FlowAtError as exc:
            self.show_problems([str(exc)])
            return
        body = None if self.step.header.kind == "code" else self.body.value
        self._on_apply(self.step.name, changes, body)

    def _write(self) -> None:
        if self.step is not None and self._on_write is not None:
            self._on_write(self.step.name)

    def _delete(self) -> None:
        if self.step is not None:
            self._on_delete(self.step.name)
