"""``%flowat editor``, ``diff``, ``monitor``, ``debug`` and ``resume``: parse, then call.

Each command is a function of the magics object (for the shell and its registry of
step cells) and the words after the command; ``FlowAtMagics`` calls them from its
``_cmd_*`` methods. Widgets are imported only when a command needs them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from flowat_kernel.errors import FlowAtError

__all__ = [
    "debug_command",
    "diff_command",
    "editor_command",
    "monitor_command",
    "resume_command",
    "run_with_graph",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise FlowAtError(f"{self.prog}: {message}")


def _parser(prog: str) -> argparse.ArgumentParser:
    return _Parser(prog=prog, add_help=False)


def _notebook_path(magics: Any, explicit: str | None) -> Path | None:
    if explicit is not None and not Path(explicit).is_file():
        raise FlowAtError(f"--notebook {explicit}: no such notebook file")
    found: Path | None = magics.notebook.notebook_path(magics.ip.user_ns, explicit)
    return found


def editor_command(magics: Any, argv: list[str]) -> Any:
    """``%flowat editor WORKFLOW [--version N] [--notebook PATH]``: the graph editor.

    Returns the editor, so ``w = %flowat editor W`` gives a handle to it. With
    ``--notebook``, edited step lines are written to that file as well.
    """
    parser = _parser("%flowat editor")
    parser.add_argument("workflow")
    parser.add_argument("--version", type=int)
    parser.add_argument("--notebook")
    args = parser.parse_args(argv)
    from flowat_kernel.widgets.editor import GraphEditor

    path = Path(args.notebook) if args.notebook else None
    if path is not None and not path.is_file():
        raise FlowAtError(f"--notebook {args.notebook}: no such notebook file")
    return GraphEditor(args.workflow, args.version, notebook=magics.notebook, notebook_path=path)


def diff_command(magics: Any, argv: list[str]) -> Any:
    """``%flowat diff WORKFLOW A B``: versions A and B side by side."""
    parser = _parser("%flowat diff")
    parser.add_argument("workflow")
    parser.add_argument("old", type=int)
    parser.add_argument("new", type=int)
    args = parser.parse_args(argv)
    from flowat_kernel import api
    from flowat_kernel.widgets.diff import VersionDiff

    found = {v.number: v for v in api.versions(args.workflow)}
    for number in (args.old, args.new):
        if number not in found:
            raise FlowAtError(
                f"workflow {args.workflow!r} has no version {number}; it has "
                + (", ".join(str(n) for n in sorted(found)) or "none")
            )
    return VersionDiff(found[args.old].spec, found[args.new].spec, (f"v{args.old}", f"v{args.new}"))


def monitor_command(magics: Any, argv: list[str]) -> Any:
    """``%flowat monitor RUN [--interval SECONDS]``: a run's graph, live until it ends."""
    parser = _parser("%flowat monitor")
    parser.add_argument("run_id")
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args(argv)
    from flowat_kernel.widgets.monitor import RunMonitor

    return RunMonitor(args.run_id, interval=args.interval)


def run_with_graph(
    workflow: str, version: int | None = None, parameters: dict[str, Any] | None = None
) -> Any:
    """Run ``workflow`` and wait, with the live graph shown (``%flowat run W --graph``).

    The graph is displayed first, then recoloured at every progress poll; returns the
    run, like ``%flowat run``.
    """
    from IPython.display import display

    from flowat_kernel import api
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
        return api.wait(started.run_id)
    finally:
        monitor.stop()
        monitor.update(api.get_run(started.run_id).record)


def debug_command(magics: Any, argv: list[str]) -> Any:
    """``%flowat debug RUN STEP [--no-prelude]``: load the step's recorded inputs."""
    parser = _parser("%flowat debug")
    parser.add_argument("run_id")
    parser.add_argument("step")
    parser.add_argument("--no-prelude", action="store_true")
    args = parser.parse_args(argv)
    from flowat_kernel.debugging import load_inputs

    found = load_inputs(args.run_id, args.step, magics.ip.user_ns, prelude=not args.no_prelude)
    names = ", ".join(sorted(found.values)) or "none"
    note = f" (masked, may hold a secret: {', '.join(found.masked)})" if found.masked else ""
    print(
        f"loaded the inputs step {args.step} received in run {args.run_id}: {names}{note}\n"
        f"fix and run its cell here, then: %flowat resume {args.run_id}"
    )
    return found


def resume_command(magics: Any, argv: list[str]) -> Any:
    """``%flowat resume RUN [--notebook PATH]``: re-run from the failed step, latest version.

    The step cells the kernel ran (and the ``parameters`` cell, when the notebook file
    is known) are patched into the latest version and published first, so a fix made
    in a cell is what runs.
    """
    parser = _parser("%flowat resume")
    parser.add_argument("run_id")
    parser.add_argument("--notebook")
    args = parser.parse_args(argv)
    from flowat_kernel.debugging import resume
    from flowat_kernel.notebook.progress import NotebookProgress

    cells = magics.notebook.cells(_notebook_path(magics, args.notebook))
    return resume(args.run_id, cells=cells, progress=NotebookProgress(), worker="always")
