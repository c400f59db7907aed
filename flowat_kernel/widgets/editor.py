"""The graph editor (``%flowat editor W``): view, edit and publish a workflow as a graph.

The editor works on a :class:`~flowat_kernel.compiler.draft.Draft` of one version.
Every edit is compiled at once with the real compiler; problems are shown on their
nodes. Saving publishes a new version (an existing version never changes). Edits of a
code step's settings are written back to its ``%%flowat step`` line.

On the canvas, palette items are dragged onto the graph to add steps, and a step
dragged onto another makes the other run after it (:mod:`.gestures`). Every edit can
be undone (:mod:`.edit_history`); until the draft is saved the editor says it has
unsaved changes. A step added in the graph is written out as a new cell on request.
"""

from __future__ import annotations

import contextlib
import copy
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import ipywidgets as widgets

from flowat_kernel import api
from flowat_kernel.compiler.draft import CompileOutcome, Draft, DraftStep
from flowat_kernel.compiler.header import StepHeader
from flowat_kernel.errors import FlowAtError, NotFoundError
from flowat_kernel.sdk.registry import get_action
from flowat_kernel.spec import WorkflowSpec
from flowat_kernel.widgets.canvas_layout import Point, layered_positions
from flowat_kernel.widgets.cell_sync import CellWriter, registered_cells
from flowat_kernel.widgets.edit_history import CellWrite, EditHistory, Snapshot
from flowat_kernel.widgets.gestures import (
    PALETTE_PREFIX,
    AddStep,
    Connect,
    Move,
    check_new_edge,
    interpret_release,
)
from flowat_kernel.widgets.graph_model import GraphEdge, edges_of, node_for
from flowat_kernel.widgets.graph_view import GraphView
from flowat_kernel.widgets.palette import CANVAS_ITEMS, Palette
from flowat_kernel.widgets.side_panel import StepForm

__all__ = ["GraphEditor"]

_T = TypeVar("_T")

#: The body of a code step added in the graph (write it out as a cell to fill it in).
_CODE_TEMPLATE = "# this step's code: write the cell out, then edit it there\npass"


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
        self.view = GraphView(name=f"editor:{workflow}", editable=True)
        self.form = StepForm(self.apply, self.delete, self._write_from_form)
        self.palette = Palette(self.add)
        self.status = widgets.HTML()
        self.changes = widgets.HTML()
        self.history = EditHistory()
        self.placed: dict[str, Point] = {}
        self.undo_button = widgets.Button(description="Undo", icon="undo", disabled=True)
        self.undo_button.on_click(lambda _: self.undo())
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
        self.view.on_release(self.release)
        self._loading = False
        self.versions.observe(self._version_chosen, names="value")
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.versions, self.save_button, self.undo_button, self.changes]),
                widgets.HBox(
                    [self.view.widget, self.form.widget], layout=widgets.Layout(width="100%")
                ),
                self.palette.widget,
                widgets.HBox([self.source, self.target, connect, disconnect]),
                self.status,
                self.output,
            ]
        )
        # the canvas takes what the side panel leaves; the panel keeps its width, so
        # neither is cut off and the canvas does not change size when a step is shown
        self.view.widget.layout = widgets.Layout(flex="1 1 0%", min_width="320px")
        self.form.widget.layout.flex = "0 0 340px"
        self.draft: Draft
        self.outcome = CompileOutcome(None)
        self._good: WorkflowSpec | None = None
        self._fill_versions(version)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        self.view.displayed()
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
        self.history.clear()
        self.placed = {}
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
                classes=(
                    *(("error",) if s.name in self.outcome.problems else ()),
                    *(("picked",) if self.form.step and self.form.step.name == s.name else ()),
                ),
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
        positions = layered_positions(self.draft.names, list(edges), self.placed)
        palette = [(PALETTE_PREFIX + item, label) for item, label in CANVAS_ITEMS]
        self.view.show(nodes, list(edges.values()), positions=positions, palette=palette)
        self._show_changes()
        options = self.draft.names
        self.source.options, self.target.options = options, options
        if not self.outcome.ok:
            count = sum(len(p) for p in self.outcome.problems.values())
            general = "".join(f"<li>{html.escape(g)}</li>" for g in self.outcome.general)
            self._say(f"{count} problem(s) on the red steps<ul>{general}</ul>", error=True)
        return self.outcome

    def _show_changes(self) -> None:
        count = self.history.count
        self.undo_button.disabled = count == 0
        self.undo_button.tooltip = f"undo: {self.history.last_label}" if count else ""
        self.changes.value = (
            f"<span class='flowat-editor-changes' data-unsaved='{count}' "
            f"style='color:#e65100;line-height:28px'>● unsaved changes ({count})</span>"
            if count
            else "<span class='flowat-editor-changes' data-unsaved='0'></span>"
        )

    @property
    def unsaved(self) -> int:
        """How many edits were made since the version was loaded or saved."""
        return self.history.count

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
        for node in self.view.nodes():  # the shown step is highlighted, no other
            picked = node.id == name
            if picked != ("picked" in node.classes):
                rest = tuple(c for c in node.classes if c != "picked")
                self.view.set_classes(node.id, (*rest, "picked") if picked else rest)

    def _edit(
        self,
        label: str,
        change: Callable[[], _T],
        refused: Callable[[str], None] | None = None,
    ) -> _T:
        """Make one undoable edit; step lines it changes are written to their cells.

        A refused edit (``FlowAtError``) changes nothing: the draft is put back, the
        message shown (by ``refused`` when given), and the error raised again.
        """
        entry = self.history.record(label, self.draft.steps, self.placed)
        lines = {id(step): step.line for step in self.draft.steps}
        try:
            result = change()
        except FlowAtError as exc:
            self.draft.steps = copy.deepcopy(entry.steps)
            self.placed = dict(entry.placed)
            self.history.discard_last()
            (refused or (lambda m: self._say(html.escape(m), error=True)))(str(exc))
            raise
        with self.writer.batch():
            for step in self.draft.steps:
                before = lines.get(id(step))
                linked = step.header.kind == "code" and (step.cell_id or step.cell_line)
                if linked and before is not None and step.line.strip() != before.strip():
                    self._write_line(entry, step, step.cell_line or before)
        self.refresh()
        shown = self.form.step.name if self.form.step is not None else None
        if shown in self.draft.names:  # the side panel shows the step as it is now
            self.select(shown)
        return result

    def _write_line(self, entry: Snapshot, step: DraftStep, old_line: str) -> None:
        where = self.writer.write(step.cell_id, old_line, step.line)
        entry.writes.append(CellWrite(step.cell_id, old_line, step.line))
        step.cell_line = step.line
        self._say(f"{html.escape(step.line)} written to: {', '.join(where)}")

    def apply(self, name: str, changes: dict[str, Any], body: str | None = None) -> None:
        """Apply header ``changes`` (and a new body) to step ``name``."""

        def change() -> DraftStep:
            step = self.draft.update(name, **changes)
            if body is not None:
                step.body = body
            return step

        try:
            step = self._edit(f"edit {name}", change, lambda m: self.form.show_problems([m]))
        except FlowAtError:
            return
        self.select(step.name)

    def delete(self, name: str) -> None:
        """Delete step ``name`` from the draft."""
        step = self._edit(f"delete {name}", lambda: self.draft.delete(name))
        self.placed.pop(name, None)
        self.form.show(None)
        if step.cell_id or step.cell_line:
            self._say(
                f"step {html.escape(name)} deleted from the graph; delete its cell in the "
                "notebook too, or the next %flowat publish brings it back",
                error=True,
            )

    def _new_step(self, group: str, what: str, name: str | None) -> DraftStep:
        if group == "logic":
            return self.draft.add_logic(what, name)
        if group == "action":
            return self.draft.add_action(what, get_action(what).input, name)
        if group == "code":
            free, number = name or "step", 1
            while free in self.draft.names:
                number += 1
                free = f"{name or 'step'}_{number}"
            step = DraftStep(StepHeader(name=free), _CODE_TEMPLATE)
            self.draft.steps.append(step)
            self.draft.update(free)  # checks that the name makes a valid step line
            return step
        raise FlowAtError(f"{group!r} is not a palette group; use code, logic or action")

    def add(self, group: str, what: str, name: str | None = None) -> str:
        """Add a step from the palette (``logic``/``action``/``code``); returns its name."""
        step = self._edit(f"add {what or group}", lambda: self._new_step(group, what, name))
        self.select(step.name)
        return step.name

    def drop(self, item: str, at: Point | None = None, after: str | None = None) -> str:
        """Add palette item ``item`` as a new step at ``at``, running after ``after``.

        ``item`` is ``code``, ``logic:KIND``, ``action:NAME`` or ``action`` (the canvas
        item, which adds the action chosen in the palette's list).

        Raises:
            FlowAtError: the item is unknown, or no action is chosen (nothing changes).

        """
        group, _, what = item.partition(":")
        if group == "action" and not what:
            what = self.palette.chosen_action or ""
            if not what:
                message = "choose an action in the palette's list first, then drop ⚡ action"
                self._say(html.escape(message), error=True)
                raise FlowAtError(message)

        def change() -> DraftStep:
            step = self._new_step(group, what, None)
            if at is not None and after is None:  # dropped on a step: the next column
                self.placed[step.name] = at
            if after is not None:
                self.draft.connect(after, step.name)
            return step

        step = self._edit(f"add {what or group}", change)
        placed = f" after {html.escape(after)}" if after else ""
        self._say(f"added step {html.escape(step.name)}{placed}: unsaved until you save")
        self.select(step.name)
        return step.name

    def edge_pairs(self) -> list[tuple[str, str]]:
        """The edges drawn now, as (source, target) pairs."""
        return [(e.source, e.target) for e in self.view.edges()]

    def connect(self, source: str, target: str) -> None:
        """Make ``target`` wait for ``source``.

        Raises:
            FlowAtError: a step is unknown, the edge exists or would close a cycle.

        """

        def change() -> None:
            self.draft.step(source)
            self.draft.step(target)
            check_new_edge(source, target, self.edge_pairs())
            self.draft.connect(source, target)

        self._edit(f"connect {source} → {target}", change)
        self._say(f"{html.escape(target)} now runs after {html.escape(source)}")

    def disconnect(self, source: str, target: str) -> None:
        """Remove the ``--after`` edge from ``source`` to ``target``."""
        spec = self.outcome.spec or self._good
        self._edit(
            f"disconnect {source} → {target}",
            lambda: self.draft.disconnect(source, target, spec),
        )

    def _edge(self, action: Any) -> None:
        with contextlib.suppress(FlowAtError):  # _edit showed why
            action(self.source.value, self.target.value)

    def release(self, node_id: str, at: Point) -> None:
        """A node dragged on the canvas was released at ``at``: add, connect or move."""
        gesture = interpret_release(node_id, at, self.view.positions)
        try:
            if isinstance(gesture, AddStep):
                self.drop(gesture.item, gesture.at, gesture.after)
            elif isinstance(gesture, Connect):
                self.connect(gesture.source, gesture.target)
            elif isinstance(gesture, Move):
                self.placed[gesture.step] = gesture.at
                return  # the node stays where it was put; nothing else changes
            else:
                self.refresh()  # a palette item put back goes home
        except FlowAtError:
            self.refresh()  # refused: the dragged node goes back

    def undo(self) -> str | None:
        """Undo the last edit (cell lines it wrote are written back); what was undone."""
        entry = self.history.pop()
        if entry is None:
            self._say("nothing to undo")
            return None
        kept = {s.name for s in entry.steps}
        orphans = [s.name for s in self.draft.steps if s.name not in kept and s.cell_line]
        self.draft.steps = entry.steps
        self.placed = entry.placed
        with self.writer.batch():
            for write in reversed(entry.writes):
                self.writer.write(write.cell_id, write.new, write.old)
        self.refresh()
        self.form.show(None)
        message = f"undone: {html.escape(entry.label)}"
        if orphans:  # written out as cells: those stay, and publishing brings them back
            message += (
                f"; {html.escape(', '.join(orphans))} was written out as a cell: delete "
                "that cell too, or the next %flowat publish brings it back"
            )
        self._say(message, error=bool(orphans))
        return entry.label

    def write_cell(self, name: str) -> str:
        """Write step ``name``, added in the graph, out as a new step cell; its source.

        The cell goes to the kernel's registry of step cells (so ``%flowat publish``
        keeps the step), after the last step cell of the open notebook, and to the
        notebook file given with ``--notebook``.

        Raises:
            FlowAtError: the step already has a cell.

        """
        step = self.draft.step(name)
        if step.cell_id or step.cell_line:
            raise FlowAtError(f"step {name!r} already has a cell; edit it there")
        where = self.writer.insert(step.name, step.line, step.body)
        step.cell_line = step.line
        self.select(step.name)
        self._say(f"step {html.escape(name)} written out as a new cell: {', '.join(where)}")
        return step.source()

    def _write_from_form(self, name: str) -> None:
        try:
            self.write_cell(name)
        except FlowAtError as exc:
            self.form.show_problems([str(exc)])

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
