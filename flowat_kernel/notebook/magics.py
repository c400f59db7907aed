"""The ``%flowat`` line magic and ``%%flowat`` cell magic: parse, call the API, show.

The commands are declared once in :mod:`flowat_kernel.commands` (shared with the
``flowat`` command line, so ``%flowat help CMD`` prints what ``flowat CMD --help``
prints). A line is parsed from that declaration and handed to the command's handler,
imported only then: most live here as ``NAME(magics, args)``, the editor's, the
triggers' and the report's in the sibling modules. A usage or input error shows as one
``UsageError`` line; a failure (the store, Temporal, a bug) keeps its traceback.
"""

from __future__ import annotations

import argparse
import ast
import os
import shlex
from typing import Any, Literal

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from flowat_kernel.commands import (
    COMMANDS,
    MAGIC,
    CommandError,
    HelpRequested,
    handler,
    help_text,
    magic_usage,
    parameters,
    parse_magic,
    signal_payload,
)
from flowat_kernel.compiler.header import HeaderError, parse_step_header
from flowat_kernel.errors import CompileError, FlowAtError, is_usage
from flowat_kernel.notebook.registry import KernelNotebook
from flowat_kernel.notebook.shown import show_result

__all__ = ["FlowAtMagics"]

_DOC = (
    "FlowAt's magics: steps, publish, run, and the rest, as the command line has them.\n\n"
    + magic_usage()
)


@magics_class
class FlowAtMagics(Magics):
    """FlowAt's notebook magics."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.notebook = KernelNotebook()
        self.current_cell_id: str | None = None

    @property
    def ip(self) -> Any:
        """The shell (never ``None`` once registered)."""
        return self.shell

    def _cell_id(self) -> str | None:
        parent = getattr(getattr(self.shell, "kernel", None), "get_parent", None)
        if parent is not None:
            metadata = (parent() or {}).get("metadata") or {}
            cell_id = metadata.get("cellId") or metadata.get("cell_id")
            if cell_id:
                return str(cell_id)
        return self.current_cell_id

    @line_cell_magic
    def flowat(self, line: str, cell: str | None = None) -> Any:  # noqa: D102 - set below
        try:
            result = self._dispatch(line, cell)
            return show_result(self.shell, result) if cell is None else result
        except HelpRequested as shown:
            print(shown.text, end="")
            return None
        except FlowAtError as exc:
            if is_usage(exc):
                # IPython prints exactly ``UsageError`` as one line, without a traceback.
                raise UsageError(str(exc)) from None
            raise  # a failure: the notebook shows where it happened

    flowat.__doc__ = _DOC

    def run_command(self, words: list[str]) -> Any:
        """Run the ``%flowat`` command ``words`` (the line, split as a shell would)."""
        command, args = parse_magic(words)
        assert command.magic is not None
        return handler(command.magic)(self, args)

    def _dispatch(self, line: str, cell: str | None) -> Any:
        if cell is not None:
            if line.split()[:1] == ["sql"]:
                return sql_cell(self, line, cell)
            if line.split()[:1] == ["prompt"]:
                return prompt_cell(self, line, cell)
            return step_cell(self, line, cell)
        return self.run_command(shlex.split(line))

    # -- %%flowat step --------------------------------------------------------------

    def _step(self, line: str, cell: str) -> Any:
        try:
            header = parse_step_header(line)
        except HeaderError as exc:
            raise FlowAtError(f"%%flowat {line.strip()}: {exc}") from None
        self.notebook.register_step(header.name, line, cell, self._cell_id())
        from flowat_kernel.notebook.logic_cells import is_logic_cell, run_logic_cell

        def execute() -> Any:
            if header.workflow is not None:
                return self._run_subworkflow(
                    cell, header.name, header.workflow, header.workflow_version
                )
            if header.action is not None:
                return self._call_action(cell, header.name, header.action)
            return self._execute(cell, header.name)

        if is_logic_cell(header):
            return run_logic_cell(self.ip.user_ns, header, cell, execute)
        return execute()

    def _call_action(self, cell: str, name: str, action: str) -> Any:
        """An action step in the kernel: the body sets the inputs, then the action runs.

        As in a run, the action's output (JSON) is bound to the step's name.
        """
        from flowat_kernel.sdk.call import action as call_action
        from flowat_kernel.sdk.call import input_names
        from flowat_kernel.sdk.registry import get_action

        names = input_names(get_action(action).input)
        self._execute(cell, name)
        namespace = self.ip.user_ns
        inputs = {n: namespace[n] for n in names if n in namespace}
        namespace[name] = call_action(action, **inputs).model_dump(mode="json")
        return namespace[name]

    def _run_subworkflow(self, cell: str, name: str, workflow: str, version: int | None) -> Any:
        """A sub-workflow step in the kernel: run the body, then the child, for real.

        The names the body assigns that are the child's inputs become its parameters;
        the child's outputs are bound to the step's name, as later steps will see them.
        """
        from flowat_kernel import api
        from flowat_kernel.compiler.names import analyse_source
        from flowat_kernel.notebook.progress import NotebookProgress

        self._execute(cell, name)
        assigned = {n for s in analyse_source(cell) for n in s.defines}
        child = api.versions(workflow)
        wanted = next((v for v in child if version is None or v.number == version), None)
        inputs = {i.name for i in wanted.spec.inputs} if wanted is not None else set()
        parameters = {n: self.ip.user_ns[n] for n in sorted(assigned & inputs)}
        run = api.run(
            workflow,
            version=version,
            parameters=parameters,
            progress=NotebookProgress(),
            trigger="notebook",
            worker="always",
        )
        if run.status == "succeeded":
            self.ip.user_ns[name] = run.outputs
        return run

    def _execute(self, cell: str, name: str) -> Any:
        """Run the cell body in the user namespace, as if the magic line were absent.

        Exceptions propagate (one traceback, the cell fails); the value of a final
        expression is returned so IPython displays it.
        """
        source = self.ip.transform_cell(cell)
        filename = self.ip.compile.cache(source)
        tree = ast.parse(source, filename=filename)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        namespace = self.ip.user_ns
        exec(compile(tree, filename, "exec"), namespace)
        if last is None:
            return None
        return eval(compile(ast.Expression(last.value), filename, "eval"), namespace)


def _line_command(name: str) -> Any:
    def command(self: FlowAtMagics, argv: list[str]) -> Any:
        return self.run_command([name, *argv])

    command.__name__ = command.__qualname__ = f"_cmd_{name}"
    command.__doc__ = f"``%flowat {name} ...`` from its words (see ``%flowat help {name}``)."
    return command


# ``magics._cmd_NAME(argv)`` runs ``%flowat NAME ...``: one per declared line command.
for _command in COMMANDS:
    if _command.on(MAGIC) and not _command.cell:
        _name = _command.name_on(MAGIC)
        setattr(FlowAtMagics, f"_cmd_{_name}", _line_command(_name))


# -- cell commands ---------------------------------------------------------------------


def step_cell(magics: FlowAtMagics, line: str, cell: str) -> Any:
    """``%%flowat step NAME [options]``: run the cell, register it as a step."""
    return magics._step(line, cell)


def prompt_cell(magics: FlowAtMagics, line: str, cell: str) -> Any:
    """``%%flowat prompt NAME``: the cell's text is prompt template NAME of the workflow.

    Registered for ``%flowat publish`` (which captures it into the version) and for
    ``prompt_name="NAME"`` of ``llm.chat``/``llm.agent`` called in this kernel.
    """
    from flowat_kernel.ai.prompt_library import kernel_prompts

    words = line.split()
    if len(words) != 2 or not words[1].isidentifier():
        raise CommandError(
            f"%%flowat {line.strip()}: write %%flowat prompt NAME, NAME a Python identifier"
        )
    magics.notebook.register_prompt(words[1], cell, magics._cell_id())
    kernel_prompts.update(magics.notebook.prompts())
    return None


def sql_cell(magics: FlowAtMagics, line: str, cell: str) -> Any:
    """``%%flowat sql``: the cell's SQL over the organization's analytics views, as a frame."""
    from flowat_kernel.api import default_workspace

    return default_workspace().analytics_sql(cell, frame=True)


# -- line commands: each takes the magics object and the parsed arguments ---------------


def publish(magics: FlowAtMagics, args: argparse.Namespace) -> Any:
    """``%flowat publish WORKFLOW [--notebook PATH] [--on-failure stop|continue]``.

    Without ``--on-failure``, the notebook file's ``metadata.flowat.on_failure`` (when
    the file is known) decides, as for ``flowat publish NOTEBOOK``.
    """
    from flowat_kernel import api

    path = magics.notebook.notebook_path(magics.ip.user_ns, args.notebook)
    on_failure = args.on_failure
    if on_failure is None and path is not None:
        on_failure = _notebook_on_failure(path)
    queue = args.queue
    if queue is None and path is not None:
        queue = _notebook_queue(path)
    try:
        return api.publish(
            args.workflow, cells=magics.notebook.cells(path), on_failure=on_failure, queue=queue
        )
    except CompileError as exc:
        if path is None and any(d.code == "undefined-name" for d in exc.diagnostics):
            raise CommandError(
                f"{exc}\n(the kernel cannot see cell tags: pass --notebook PATH so FlowAt can "
                "read the cell tagged `parameters`)"
            ) from None
        raise


def _notebook_queue(path: os.PathLike[str]) -> str | None:
    """The notebook file's ``metadata.flowat.queue``; ``None`` if unset or unreadable."""
    import json
    from pathlib import Path

    from flowat_kernel.spec.model import metadata_queue

    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return metadata_queue(document.get("metadata") if isinstance(document, dict) else None)


def _notebook_on_failure(path: os.PathLike[str]) -> Literal["stop", "continue"] | None:
    """The notebook file's ``metadata.flowat.on_failure``; ``None`` if unset or unreadable."""
    import json
    from pathlib import Path

    from flowat_kernel.spec.model import metadata_on_failure

    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # the parameters cell is read from it too, and says what is wrong
    return metadata_on_failure(document.get("metadata") if isinstance(document, dict) else None)


def run(magics: FlowAtMagics, args: argparse.Namespace) -> Any:
    """``%flowat run WORKFLOW [--version N] [-p key=value ...] [--graph]``.

    A run that does not succeed fails the cell (:class:`CellRunFailed`, showing the
    failing step's own traceback); with ``--graph`` too, after the graph showed it.
    """
    from flowat_kernel import api
    from flowat_kernel.notebook.progress import NotebookProgress
    from flowat_kernel.notebook.run_failure import failed_cell

    given = parameters(args.param)
    if args.graph:
        from flowat_kernel.notebook.editor_magics import run_with_graph

        return run_with_graph(args.workflow, args.version, given)
    return failed_cell(
        api.run(
            args.workflow,
            version=args.version,
            parameters=given,
            progress=NotebookProgress(),
            trigger="notebook",
            worker="always",
        )
    )


def rerun(magics: FlowAtMagics, args: argparse.Namespace) -> Any:
    """``%flowat rerun RUN [--version same|latest|N]``; a failed re-run fails the cell."""
    from flowat_kernel import api
    from flowat_kernel.notebook.progress import NotebookProgress
    from flowat_kernel.notebook.run_failure import failed_cell

    return failed_cell(
        api.rerun(args.run_id, version=args.version, progress=NotebookProgress(), worker="always")
    )


def cancel(magics: FlowAtMagics, args: argparse.Namespace) -> Any:
    """``%flowat cancel RUN [--wait SECONDS]``: cancel, and return the stopped run."""
    from flowat_kernel import api

    api.cancel(args.run_id)
    return api.wait(args.run_id, timeout=args.wait)


def signal(magics: FlowAtMagics, args: argparse.Namespace) -> Any:
    """``%flowat signal RUN NAME [-p key=value ... | --data JSON]``."""
    from flowat_kernel import api

    return api.signal(args.run_id, args.name, signal_payload(args.data, args.param))


def versions(magics: FlowAtMagics, args: argparse.Namespace) -> Any:
    """``%flowat versions WORKFLOW``: a data frame."""
    import pandas as pd

    from flowat_kernel import api
    from flowat_kernel.commands.rows import version_rows

    headers, rows = version_rows(api.versions(args.workflow))
    return pd.DataFrame(rows, columns=headers)


def runs(magics: FlowAtMagics, args: argparse.Namespace) -> Any:
    """``%flowat runs [WORKFLOW] [--limit N]``: a data frame."""
    import pandas as pd

    from flowat_kernel import api
    from flowat_kernel.commands.rows import run_rows

    headers, rows = run_rows(api.runs(args.workflow, args.limit))
    return pd.DataFrame(rows, columns=headers)


def steps(magics: FlowAtMagics, args: argparse.Namespace) -> list[str]:
    """``%flowat steps``: the step names registered in this kernel."""
    return list(magics.notebook.step_names)


def connectors(magics: FlowAtMagics, args: argparse.Namespace) -> Any:
    """``%flowat connectors``: installed connectors' actions as a data frame."""
    import pandas as pd

    from flowat_kernel.sdk.registry import connectors as installed

    return pd.DataFrame(
        [
            {
                "action": a.full_name,
                "retry_safe": a.retry_safe,
                "inputs": ", ".join(a.input.model_fields),
                "description": a.description,
            }
            for c in sorted(installed().values(), key=lambda c: c.id)
            for a in c.actions.values()
        ]
    )


def dashboard(magics: FlowAtMagics, args: argparse.Namespace) -> Any:
    """``%flowat dashboard [WORKFLOW]``: runs, failures, durations, errors, LLM cost."""
    from flowat_kernel.widgets.dashboard import Dashboard

    return Dashboard(workflow=args.workflow).widget


def help_command(magics: FlowAtMagics, args: argparse.Namespace) -> None:
    """``%flowat help [COMMAND [ACTION]]``: what ``flowat COMMAND --help`` prints."""
    print(help_text(*args.topic) if args.topic else _DOC + "\n", end="")


def dlq_list(magics: FlowAtMagics, args: argparse.Namespace) -> Any:
    """``%flowat dlq [list] [--all] [--limit N]``: parked steps as a data frame."""
    import pandas as pd

    from flowat_kernel import dlq

    letters = dlq.dlq_list(None if args.all else "parked", args.limit)
    return pd.DataFrame([letter.as_dict() for letter in letters])


def dlq_show(magics: FlowAtMagics, args: argparse.Namespace) -> Any:
    """``%flowat dlq show ID``."""
    from flowat_kernel import dlq

    return dlq.dlq_show(args.id)


def dlq_retry(magics: FlowAtMagics, args: argparse.Namespace) -> Any:
    """``%flowat dlq retry ID``: the new run."""
    from flowat_kernel import dlq

    return dlq.dlq_retry(args.id, wait=not args.no_wait)


def dlq_discard(magics: FlowAtMagics, args: argparse.Namespace) -> None:
    """``%flowat dlq discard ID``."""
    from flowat_kernel import dlq

    dlq.dlq_discard(args.id)
    print(f"dead letter {args.id}: discarded")


def secret_set(magics: FlowAtMagics, args: argparse.Namespace) -> None:
    """``%flowat secret set NAME``: the value is asked for with a password prompt."""
    if not args.name or args.typed:
        raise CommandError(
            "usage: %flowat secret set NAME (the value is asked for, never typed on the "
            "magic line, so that it cannot be saved in the notebook)"
        )
    import getpass

    from flowat_kernel import api

    name = args.name
    value = getpass.getpass(f"value of secret {name} (not echoed, not saved): ")
    info = api.set_secret(name, value)
    short = api.too_short_to_mask(value)
    del value
    verb = "stored" if info.version == 1 else f"rotated to version {info.version}"
    print(f"secret {name}: {verb}; use it in a step as flowat.secret({name!r}).reveal()")
    if short:
        print(f"warning: {name} is shorter than 4 characters and cannot be masked")


def secret_list(magics: FlowAtMagics, args: argparse.Namespace) -> Any:
    """``%flowat secret list``: metadata only, as a data frame."""
    import pandas as pd

    from flowat_kernel import api

    return pd.DataFrame([info.as_dict() for info in api.list_secrets()])


def secret_delete(magics: FlowAtMagics, args: argparse.Namespace) -> None:
    """``%flowat secret delete NAME``."""
    from flowat_kernel import api

    api.delete_secret(args.name)
    print(f"secret {args.name}: deleted")
