"""The palette: installed connectors' actions and the logic kinds, to add as steps.

Two ways in: the list (choose, name, *Add step*), and the items drawn on the canvas
beside the graph (drag one onto the graph). The canvas item *action* adds the action
chosen in the list.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets

from flowat_kernel.compiler.draft import LOGIC_TEMPLATES

__all__ = ["CANVAS_ITEMS", "Palette", "palette_entries"]

#: The palette items drawn on the editor's canvas: (item, label).
CANVAS_ITEMS: list[tuple[str, str]] = [
    ("code", "+ code"),
    *((f"logic:{kind}", f"+ {kind}") for kind in LOGIC_TEMPLATES),
    ("action", "+ ⚡ action"),
]


def palette_entries() -> list[tuple[str, str]]:
    """(label, value) pairs: ``logic:KIND`` for logic kinds, ``action:C.A`` for actions.

    Actions come from the connector registry (built-in and third-party alike);
    connectors that fail to load are left out, as ``flowat connectors`` reports them.
    """
    from flowat_kernel.sdk.registry import connectors

    entries = [(f"logic · {kind}", f"logic:{kind}") for kind in LOGIC_TEMPLATES]
    for connector in sorted(connectors().values(), key=lambda c: c.id):
        for action in connector.actions.values():
            label = f"action · {action.full_name}"
            if action.description:
                label += f" — {action.description[:50]}"
            entries.append((label, f"action:{action.full_name}"))
    return entries


class Palette:
    """A drop-down of what can be added, a name box and an Add button.

    Args:
        on_add: called with (``logic`` or ``action``, kind or action name, step name or
            ``None`` for a generated one).

    """

    def __init__(self, on_add: Callable[[str, str, str | None], object]) -> None:
        self._on_add = on_add
        entries = palette_entries()
        self.choice = widgets.Dropdown(
            options=entries, description="add", layout=widgets.Layout(width="360px")
        )
        first_action = next((v for _, v in entries if v.startswith("action:")), None)
        if first_action is not None:  # the canvas's *action* item adds this one
            self.choice.value = first_action
        self.name = widgets.Text(
            placeholder="step name (optional)", layout=widgets.Layout(width="180px")
        )
        self.button = widgets.Button(description="Add step", icon="plus")
        self.button.on_click(lambda _: self.add())
        self.widget = widgets.HBox([self.choice, self.name, self.button])

    def add(self) -> None:
        """Add the chosen entry."""
        value = self.choice.value
        if not value:
            return
        group, _, what = value.partition(":")
        self._on_add(group, what, self.name.value.strip() or None)
        self.name.value = ""

    @property
    def chosen_action(self) -> str | None:
        """The action chosen in the list (``None`` when a logic kind is chosen)."""
        group, _, what = str(self.choice.value or "").partition(":")
        return what if group == "action" else None
