"""The editor's undo history: what the draft looked like before each edit.

An entry keeps a copy of the draft's steps, the positions of the steps placed by hand,
and the step lines the edit wrote to notebook cells (undo writes them back).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from flowat_kernel.compiler.draft import DraftStep
from flowat_kernel.widgets.canvas_layout import Point

__all__ = ["CellWrite", "EditHistory", "Snapshot"]


@dataclass(frozen=True)
class CellWrite:
    """A step line written to a cell: ``old`` was replaced by ``new``."""

    cell_id: str | None
    old: str
    new: str


@dataclass
class Snapshot:
    """The draft before one edit, and what that edit wrote to cells."""

    label: str
    steps: list[DraftStep]
    placed: dict[str, Point]
    writes: list[CellWrite] = field(default_factory=list)


class EditHistory:
    """Edits since the version was loaded or saved, newest last."""

    def __init__(self) -> None:
        self._entries: list[Snapshot] = []

    def record(self, label: str, steps: list[DraftStep], placed: dict[str, Point]) -> Snapshot:
        """Remember the draft as it is before the edit called ``label``."""
        entry = Snapshot(label, copy.deepcopy(steps), dict(placed))
        self._entries.append(entry)
        return entry

    def discard_last(self) -> None:
        """Forget the newest entry (its edit was refused and changed nothing)."""
        if self._entries:
            self._entries.pop()

    def pop(self) -> Snapshot | None:
        """Take the newest entry, to undo it (``None`` when there is nothing to undo)."""
        return self._entries.pop() if self._entries else None

    def clear(self) -> None:
        """Forget every entry (the draft was saved or replaced)."""
        self._entries.clear()

    @property
    def count(self) -> int:
        """How many edits can be undone: the unsaved changes."""
        return len(self._entries)

    @property
    def last_label(self) -> str | None:
        """What the newest edit was."""
        return self._entries[-1].label if self._entries else None
