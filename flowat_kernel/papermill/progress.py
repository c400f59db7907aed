"""The output notebook while the run goes on, as papermill writes it cell by cell.

papermill's own engine saves the output notebook when a cell starts (``running``) and
when it completes (its outputs, ``completed`` or ``failed``, start, end and duration).
:class:`NotebookProgress` does the same for a run under ``--engine flowat``: it is the
run's progress callback, reads each polled run record, and when a step of the notebook
started or finished since the last write, renders the record into a copy of the
notebook and writes that to papermill's output path. So a user tailing the output of a
long run sees each cell as its step ends, and a run whose process is killed leaves a
notebook showing the cells that completed. The notebook papermill holds is not
touched: its final write, when the run ends, is the engine's alone.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Collection
from typing import Any

from flowat_kernel.store import RunRecord

__all__ = ["NotebookProgress"]

logger = logging.getLogger("papermill")

#: Fills a notebook (in place) with a run record, as the engine's final write does.
Render = Callable[[Any, RunRecord], None]


class NotebookProgress:
    """A run's progress callback that writes the output notebook as its steps change.

    Args:
        nb_man: papermill's ``NotebookExecutionManager`` (its notebook, output path and
            progress bar).
        steps: the names of the steps that are cells of the notebook (``--foreach``
            items and other records are not cells, and write nothing).
        render: how a record fills a notebook.

    """

    def __init__(self, nb_man: Any, steps: Collection[str], render: Render) -> None:
        self._nb_man = nb_man
        self._steps = frozenset(steps)
        self._render = render
        self._seen: tuple[Any, ...] | None = None
        self.writes = 0

    def _state(self, record: RunRecord) -> tuple[Any, ...]:
        return tuple(
            (s.name, s.status, s.attempts, s.started_at, s.ended_at)
            for s in record.steps
            if s.name in self._steps
        )

    def __call__(self, record: RunRecord) -> None:
        """Write the notebook when a step started or ended since the last write.

        A finished run writes nothing here: the engine's final write follows. A write
        that fails is logged and the run goes on (papermill writes at the end again).
        """
        if record.finished:
            return
        state = self._state(record)
        if state == self._seen:
            return
        self._seen = state
        self._advance_bar(record)
        path = self._nb_man.output_path
        if not path:
            return
        notebook = copy.deepcopy(self._nb_man.nb)
        self._render(notebook, record)
        from papermill.iorw import write_ipynb

        try:
            write_ipynb(notebook, path)
        except Exception as exc:  # a full disk or a gone bucket must not stop the run
            logger.warning(f"could not write the output notebook while running: {exc}")
            return
        self.writes += 1

    def _advance_bar(self, record: RunRecord) -> None:
        """Move papermill's progress bar to the cells whose steps have ended."""
        bar = self._nb_man.pbar
        if not bar:
            return
        ended = sum(1 for s in record.steps if s.name in self._steps and s.ended_at is not None)
        if ended > bar.n:
            bar.update(ended - bar.n)
