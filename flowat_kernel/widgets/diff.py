"""Two versions side by side: added, removed and changed steps, and source diffs.

:func:`diff_specs` is pure and says which steps were added, removed or changed (and
which of their fields); :class:`VersionDiff` draws both graphs with those steps
highlighted and shows the unified source diff of each changed step.
"""

from __future__ import annotations

import difflib
import html
from dataclasses import dataclass, field

import ipywidgets as widgets

from flowat_kernel.spec import StepSpec, WorkflowSpec
from flowat_kernel.widgets.graph_model import edges_of, nodes_of
from flowat_kernel.widgets.graph_view import GraphView

__all__ = ["SpecDiff", "VersionDiff", "diff_specs", "prompt_diff", "source_diff"]


@dataclass(frozen=True)
class SpecDiff:
    """What changed between two specs, step by step."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unchanged: tuple[str, ...] = ()
    inputs_changed: bool = False
    #: Prompt templates (``WorkflowSpec.prompts``) that differ: name to ``added``,
    #: ``removed`` or ``changed``.
    prompts: dict[str, str] = field(default_factory=dict)

    def status(self, name: str) -> str:
        """``added``, ``removed``, ``changed`` or ``unchanged``."""
        if name in self.added:
            return "added"
        if name in self.removed:
            return "removed"
        return "changed" if name in self.changed else "unchanged"


def diff_specs(old: WorkflowSpec, new: WorkflowSpec) -> SpecDiff:
    """Classify every step of ``old`` and ``new``; a changed step lists changed fields.

    Incoming edges count as a field (``upstream``), so a step whose inputs now come from
    elsewhere is changed even when its own cell is not.
    """
    before = {s.name: s for s in old.steps}
    after = {s.name: s for s in new.steps}
    up_old, up_new = old.upstream_map(), new.upstream_map()
    changed: dict[str, tuple[str, ...]] = {}
    unchanged = []
    for name, step in after.items():
        if name not in before:
            continue
        fields = [
            key
            for key, value in step.model_dump().items()
            if before[name].model_dump().get(key) != value
        ]
        if up_old.get(name) != up_new.get(name):
            fields.append("upstream")
        if fields:
            changed[name] = tuple(fields)
        else:
            unchanged.append(name)
    return SpecDiff(
        added=tuple(n for n in after if n not in before),
        removed=tuple(n for n in before if n not in after),
        changed=changed,
        unchanged=tuple(unchanged),
        inputs_changed=old.inputs != new.inputs,
        prompts=_prompt_changes(old, new),
    )


def _prompt_changes(old: WorkflowSpec, new: WorkflowSpec) -> dict[str, str]:
    before = {p.name: p for p in old.prompts}
    after = {p.name: p for p in new.prompts}
    changes = {n: "removed" for n in before if n not in after}
    for name, prompt in after.items():
        if name not in before:
            changes[name] = "added"
        elif before[name] != prompt:
            changes[name] = "changed"
    return dict(sorted(changes.items()))


def prompt_diff(old: WorkflowSpec, new: WorkflowSpec, name: str, labels: tuple[str, str]) -> str:
    """The unified diff of prompt ``name``'s text between two versions ('' when equal)."""
    texts = [next((p.text for p in s.prompts if p.name == name), "") for s in (old, new)]
    return "".join(
        difflib.unified_diff(
            [line + "\n" for line in texts[0].splitlines()],
            [line + "\n" for line in texts[1].splitlines()],
            fromfile=f"prompt {name} ({labels[0]})",
            tofile=f"prompt {name} ({labels[1]})",
        )
    )


def source_diff(
    old: StepSpec, new: StepSpec, old_label: str = "old", new_label: str = "new"
) -> str:
    """The unified diff of two steps' sources (empty when equal), one line per line.

    A source's last line has no newline; without one, a changed last line's ``-`` and
    ``+`` lines would run together into one.
    """
    return "".join(
        difflib.unified_diff(
            [line + "\n" for line in old.source.splitlines()],
            [line + "\n" for line in new.source.splitlines()],
            fromfile=f"{old.name} ({old_label})",
            tofile=f"{new.name} ({new_label})",
        )
    )


def _diff_html(text: str) -> str:
    colours = {"+": "#e8f5e9", "-": "#ffebee", "@": "#e3f2fd"}
    lines = []
    for line in text.splitlines():
        colour = colours.get(line[:1], "transparent")
        lines.append(f"<div style='background:{colour}'>{html.escape(line) or '&nbsp;'}</div>")
    return "<pre style='font-size:11px;line-height:1.3'>" + "".join(lines) + "</pre>"


class VersionDiff:
    """Versions ``old`` and ``new`` of one workflow as two highlighted graphs.

    Args:
        old: the earlier spec (its removed and changed steps are marked).
        new: the later spec (its added and changed steps are marked).
        labels: how to call the two sides (``v1``, ``v2``).

    """

    def __init__(
        self, old: WorkflowSpec, new: WorkflowSpec, labels: tuple[str, str] = ("old", "new")
    ):
        self.diff = diff_specs(old, new)
        self.left = GraphView(height="300px", name=f"diff:{labels[0]}")
        self.right = GraphView(height="300px", name=f"diff:{labels[1]}")
        for view, spec in ((self.left, old), (self.right, new)):
            nodes = []
            for node in nodes_of(spec):
                status = self.diff.status(node.id)
                nodes.append(node.with_classes(f"diff-{status}") if status != "unchanged" else node)
            view.show(nodes, edges_of(spec.edges))
        old_steps = {s.name: s for s in old.steps}
        new_steps = {s.name: s for s in new.steps}
        parts = [
            f"<b>added</b>: {html.escape(', '.join(self.diff.added) or '—')} · "
            f"<b>removed</b>: {html.escape(', '.join(self.diff.removed) or '—')} · "
            f"<b>changed</b>: {html.escape(', '.join(self.diff.changed) or '—')}"
        ]
        for name, fields in self.diff.changed.items():
            parts.append(f"<h4>{html.escape(name)}: {html.escape(', '.join(fields))}</h4>")
            text = source_diff(old_steps[name], new_steps[name], *labels)
            if text:
                parts.append(_diff_html(text))
        for name, change in self.diff.prompts.items():
            parts.append(f"<h4>prompt {html.escape(name)}: {change}</h4>")
            text = prompt_diff(old, new, name, labels)
            if text:
                parts.append(_diff_html(text))
        self.details = widgets.HTML("".join(parts))
        column = widgets.Layout(width="50%")
        self.widget = widgets.VBox(
            [
                widgets.HBox(
                    [
                        widgets.VBox(
                            [widgets.HTML(f"<b>{html.escape(labels[0])}</b>"), self.left.widget],
                            layout=column,
                        ),
                        widgets.VBox(
                            [widgets.HTML(f"<b>{html.escape(labels[1])}</b>"), self.right.widget],
                            layout=column,
                        ),
                    ]
                ),
                self.details,
            ]
        )

    def _repr_mimebundle_(self, **kwargs: object) -> object:
        self.left.displayed()
        self.right.displayed()
        return self.widget._repr_mimebundle_(**kwargs)
