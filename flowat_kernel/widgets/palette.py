"""The palette: installed connectors' actions and the logic kinds, to add as steps."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets

from flowat_kernel.compiler.draft import LOGIC_TEMPLATES

__all__ = ["Palette", "palette_entries"]


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
        self.choice = widgets.Dropdown(
            options=palette_entries(), description="add", layout=widgets.Layout(width="360px")
        )
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
