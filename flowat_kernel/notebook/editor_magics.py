"""``%flowat editor``, ``diff``, ``monitor``, ``debug`` and ``resume``: call, then show.

Each command is a function of the magics object (for the shell and its registry of
step cells) and the arguments parsed from its declaration in
:mod:`flowat_kernel.commands.catalog`; ``NAME_command(magics, argv)`` parses the words
first. Widgets are imported only when a command needs them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from flowat_kernel.commands import CommandError, parse_magic

__all__ = [
    "debug",
    "debug_command",
    "diff",
    "diff_command",
    "editor",
    "editor_command",
    "monitor",
    "monitor_command",
    "resume",
    "resume_command",
    "run_with_graph",
]


def _parsed(name: str, argv: list[str]) -> argparse.Namespace:
    return parse_magic([name, *argv])[1]


def _notebook_path(magics: Any, explicit: str | None) -> Path | None:
    if explicit is not None and not Path(explicit).is_file():
        raise CommandError(f"--notebook {explicit}: no such notebook file")
    found: Path | None = magics.notebook.notebook_path(magics.ip.user_ns, explicit)
    return found


def editor(magics: Any, args: argparse.Namespace) -> Any:
    """``%flowat editor WORKFLOW [--version N] [--notebook PATH]``: the graph editor.

    Returns the editor, so ``w = %flowat editor W`` gives a handle to it. With
    ``--notebook``, edited step lines are written to that file as well.
    """
    from flowat_kernel.widgets.editor import GraphEditor

    path = Path(args.notebook) if args.notebook else None
    if path is not None and not path.is_file():
        raise CommandError(f"--notebook {args.notebook}: no such notebook file")
    return GraphEditor(args.workflow, args.version, notebook=magics.notebook, notebook_path=path)


def diff(magics: Any, args: argparse.Namespace) -> Any:
    """``%flowat diff WORKFLOW A B``: versions A and B side by side."""
    from flowat_kernel import api
    from flowat_kernel.widgets.diff import VersionDiff

    found = {v.number: v for v in api.versions(args.workflow)}
    for number in (args.old, args.new):
        if number not in found:
            raise CommandError(
                f"workflow {args.workflow!r} has no version {number}; it has "
                + (", ".join(str(n) for n in sorted(found)) or "none")
            )
    return VersionDiff(found[args.old].spec, found[args.new].spec, (f"v{args.old}", f"v{args.new}"))


def monitor(magics: Any, args: argparse.Namespace) -> Any:
    """``%flowat monitor RUN [--interval SECONDS]``: a run's graph, live until it ends."""
    from flowat_kernel.widgets.monitor import RunMonitor

    return RunMonitor(args.run_id, interval=args.interval)


def run_with_graph(
    workflow: str, version: int | None = None, parameters: dict[str, Any] | None = None
) -> Any:
    """Run ``workflow`` and wait, with the live graph shown (``%flowat run W --graph``).

    The graph is displayed first, then recoloured at every progress poll; returns the
    run, like ``%flowat run``, and like it fails the cell when the run does not succeed
    (:class:`~flowat_kernel.notebook.run_failure.CellRunFailed`; the graph stays shown).
    """
    from IPython.display import display

    from flowat_kernel import api
    from flowat_kernel.notebook.run_failure import failed_cell
    from flowat_kernel.widgets.monitor import RunMonitor

    started = api.run(
        workflow,
        version=version,
        parameters=parameters or {},
        wait=False,
        trigger="notebook",
        worker="always",
    )
    monitor = RunMonitor(started.run_id, interval=0.25)
    display(monitor.widget)
    try:
        finished = api.wait(started.run_id)
    finally:
        monitor.stop()
        monitor.update(api.get_run(started.run_id).record)
    return failed_cell(finished)  # the graph shows the end, then the cell fails


def debug(magics: Any, args: argparse.Namespace) -> Any:
    """``%flowat debug RUN STEP [--no-prelude]``: load the step's recorded inputs."""
    from flowat_kernel.debugging import load_inputs

    found = load_inputs(args.run_id, args.step, magics.ip.user_ns, prelude=not args.no_prelude)
    names = ", ".join(sorted(found.values)) or "none"
    note = f" (masked, may hold a secret: {', '.join(found.masked)})" if found.masked else ""
    print(
        f"loaded the inputs step {args.step} received in run {args.run_id}: {names}{note}\n"
        f"fix and run its cell here, then: %flowat resume {args.run_id}"
    )
    return found


def resume(magics: Any, args: argparse.Namespace) -> Any:
    """``%flowat resume RUN [--notebook PATH]``: re-run from the failed step, latest version.

    The step cells the kernel ran (and the ``parameters`` cell, when the notebook file
    is known) are patched into the latest version and published first, so a fix made
    in a cell is what runs.
    """
    from flowat_kernel.debugging import resume
    from flowat_kernel.notebook.progress import NotebookProgress

    cells = magics.notebook.cells(_notebook_path(magics, args.notebook))
    return resume(args.run_id, cells=cells, progress=NotebookProgress(), worker="always")


def editor_command(magics: Any, argv: list[str]) -> Any:
    """``%flowat editor`` from the words after the command."""
    return editor(magics, _parsed("editor", argv))


def diff_command(magics: Any, argv: list[str]) -> Any:
    """``%flowat diff`` from the words after the command."""
    return diff(magics, _parsed("diff", argv))


def monitor_command(magics: Any, argv: list[str]) -> Any:
    """``%flowat monitor`` from the words after the command."""
    return monitor(magics, _parsed("monitor", argv))


def debug_command(magics: Any, argv: list[str]) -> Any:
    """``%flowat debug`` from the words after the command."""
    return debug(magics, _parsed("debug", argv))


def resume_command(magics: Any, argv: list[str]) -> Any:
    """``%flowat resume`` from the words after the command."""
    return resume(magics, _parsed("resume", argv))
