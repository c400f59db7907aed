"""The graph editor (``%flowat editor W``): view, edit and publish a workflow as a graph.

The editor works on a :class:`~flowat_kernel.compiler.draft.Draft` of one version.
Every edit is compiled at once with the real compiler; problems are shown on their
nodes. Saving publishes a new version (an existing version never changes). Edits of a
code step's settings are written back to its ``%%flowat step`` line.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from flowat_kernel import api
from flowat_kernel.compiler.draft import CompileOutcome, Draft
from flowat_kernel.errors import FlowAtError, NotFoundError
from flowat_kernel.sdk.registry import get_action
from flowat_kernel.spec import WorkflowSpec
from flowat_kernel.widgets.cell_sync import CellWriter, registered_cells
from flowat_kernel.widgets.graph_model import GraphEdge, edges_of, node_for
from flowat_kernel.widgets.graph_view import GraphView
from flowat_kernel.widgets.palette import Palette
from flowat_kernel.widgets.side_panel import StepForm

__all__ = ["GraphEditor"]


class GraphEditor:
    """A workflow's graph with a version selector, a step form and a palette.

    Args:
        workflow: the workflow to show.
        version: the version to start from (the latest when ``None``).
        notebook: the kernel's registry of step cells, to link steps to their cells.
        notebook_path: a notebook file to write edited step lines to as well.

    Raises:
        NotFoundError: the workflow has no version yet.

    """

    def __init__(
        self,
        workflow: str,
        version: int | None = None,
        *,
        notebook: Any = None,
        notebook_path: Path | None = None,
    ) -> None:
        self.workflow = workflow
        self.notebook = notebook
        self.view = GraphView(name=f"editor:{workflow}")
        self.form = StepForm(self.apply, self.delete)
        self.palette = Palette(self.add)
        self.status = widgets.HTML()
        self.versions = widgets.Dropdown(
            description="version", layout=widgets.Layout(width="260px")
        )
        self.save_button = widgets.Button(
            description="Save as new version", button_style="success", icon="save"
        )
        self.source = widgets.Dropdown(description="from", layout=widgets.Layout(width="200px"))
        self.target = widgets.Dropdown(description="to", layout=widgets.Layout(width="200px"))
        connect = widgets.Button(description="Connect (--after)")
        disconnect = widgets.Button(description="Disconnect")
        self.output = widgets.Output(layout=widgets.Layout(height="0px", overflow="hidden"))
        self.writer = CellWriter(notebook, self.output, notebook_path)
        self.save_button.on_click(lambda _: self.save())
        connect.on_click(lambda _: self._edge(self.connect))
        disconnect.on_click(lambda _: self._edge(self.disconnect))
        self.view.on_select(self.select)
        self._loading = False
        self.versions.observe(self._version_chosen, names="value")
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.versions, self.save_button]),
                widgets.HBox(
                    [self.view.widget, self.form.widget], layout=widgets.Layout(width="100%")
                ),
                self.palette.widget,
                widgets.HBox([self.source, self.target, connect, disconnect]),
                self.status,
                self.output,
            ]
        )
        self.view.widget.layout = widgets.Layout(flex="1 1 auto", min_width="400px")
        self.draft: Draft
        self.outcome = CompileOutcome(None)
        self._good: WorkflowSpec | None = None
        self._fill_versions(version)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- versions -----------------------------------------------------------------------

    def _fill_versions(self, number: int | None) -> None:
        found = api.versions(self.workflow)
        if not found:
            raise NotFoundError(
                f"workflow {self.workflow!r} has no version yet; publish it first "
                f"(%flowat publish {self.workflow})"
            )
        chosen = number if number is not None else found[0].number
        if chosen not in {v.number for v in found}:
            raise NotFoundError(f"workflow {self.workflow!r} has no version {chosen}")
        self._loading = True
        self.versions.options = [
            (f"v{v.number} · {v.created_at:%Y-%m-%d %H:%M}", v.number) for v in found
        ]
        self.versions.value = chosen
        self._loading = False
        self.load(chosen)

    def _version_chosen(self, change: dict[str, Any]) -> None:
        if not self._loading and change.get("new") is not None:
            self.load(int(change["new"]))

    def load(self, number: int) -> None:
        """Show version ``number`` (unsaved edits are dropped)."""
        record = next(v for v in api.versions(self.workflow) if v.number == number)
        self.draft = Draft.from_spec(record.spec, registered_cells(self.notebook))
        self._good = record.spec
        self.refresh()
        self.form.show(None)
        self._say(f"version {number}: {len(record.spec.steps)} steps")

    # -- drawing ------------------------------------------------------------------------

    def refresh(self) -> CompileOutcome:
        """Compile the draft and redraw; problems mark their nodes."""
        self.outcome = self.draft.compile()
        if self.outcome.spec is not None:
            self._good = self.outcome.spec
        names = set(self.draft.names)
        nodes = [
            node_for(
                s.name,
                s.header.kind,
                action=s.header.action,
                workflow=s.header.workflow,
                cell_id=s.cell_id,
                classes=("error",) if s.name in self.outcome.problems else (),
            )
            for s in self.draft.steps
        ]
        spec = self.outcome.spec or self._good
        edges = {
            (e.source, e.target): e
            for e in edges_of(spec.edges if spec else ())
            if e.source in names and e.target in names
        }
        if self.outcome.spec is None:  # keep the last good edges, add the --after ones
            for step in self.draft.steps:
                for before in step.header.after:
                    edges.setdefault((before, step.name), GraphEdge(before, step.name))
        self.view.show(nodes, list(edges.values()))
        options = self.draft.names
        self.source.options, self.target.options = options, options
        if not self.outcome.ok:
            count = sum(len(p) for p in self.outcome.problems.values())
            general = "".join(f"<li>{html.escape(g)}</li>" for g in self.outcome.general)
            self._say(f"{count} problem(s) on the red steps<ul>{general}</ul>", error=True)
        return self.outcome

    def _say(self, message: str, error: bool = False) -> None:
        colour = "#d50000" if error else "#2e7d32"
        self.status.value = (
            f"<div class='flowat-editor-status' style='color:{colour}'>{message}</div>"
        )

    # -- editing ------------------------------------------------------------------------

    def select(self, name: str | None) -> None:
        """Show step ``name`` in the side panel."""
        step = self.draft.step(name) if name is not None else None
        self.form.show(step, self.outcome.problems.get(name or "", []))

    def apply(self, name: str, changes: dict[str, Any], body: str | None = None) -> None:
        """Apply header ``changes`` (and a new body) to step ``name``."""
        step = self.draft.step(name)
        old_line = step.cell_line or step.line
        try:
            step = self.draft.update(name, **changes)
        except FlowAtError as exc:
            self.form.show_problems([str(exc)])
            return
        if body is not None:
            step.body = body
        linked = step.header.kind == "code" and (step.cell_id or step.cell_line)
        if linked and step.line.strip() != old_line.strip():
            where = self.writer.write(step.cell_id, old_line, step.line)
            step.cell_line = step.line
            self._say(f"{html.escape(step.line)} written to: {', '.join(where)}")
        self.refresh()
        self.select(step.name)

    def delete(self, name: str) -> None:
        """Delete step ``name`` from the draft."""
        step = self.draft.delete(name)
        self.refresh()
        self.form.show(None)
        if step.cell_id or step.cell_line:
            self._say(
                f"step {html.escape(name)} deleted from the graph; delete its cell in the "
                "notebook too, or the next %flowat publish brings it back",
                error=True,
            )

    def add(self, group: str, what: str, name: str | None = None) -> str:
        """Add a step from the palette (``logic``/``action``); returns its name."""
        try:
            step = (
                self.draft.add_logic(what, name)
                if group == "logic"
                else self.draft.add_action(what, get_action(what).input, name)
            )
        except FlowAtError as exc:
            self._say(html.escape(str(exc)), error=True)
            raise
        self.refresh()
        self.select(step.name)
        return step.name

    def connect(self, source: str, target: str) -> None:
        """Make ``target`` wait for ``source``."""
        self.draft.connect(source, target)
        self.refresh()

    def disconnect(self, source: str, target: str) -> None:
        """Remove the ``--after`` edge from ``source`` to ``target``."""
        self.draft.disconnect(source, target, self.outcome.spec or self._good)
        self.refresh()

    def _edge(self, action: Any) -> None:
        try:
            action(self.source.value, self.target.value)
        except FlowAtError as exc:
            self._say(html.escape(str(exc)), error=True)

    def save(self) -> api.Published | None:
        """Publish the draft as a new version (``None`` while it has problems)."""
        outcome = self.refresh()
        if outcome.spec is None:
            return None
        published = api.publish(self.workflow, spec=outcome.spec)
        self._fill_versions(published.number)
        state = "published as" if published.created else "unchanged, still"
        self._say(f"{state} version {published.number}")
        return published
