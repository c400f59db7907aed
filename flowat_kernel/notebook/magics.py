"""The ``%flowat`` line magic and ``%%flowat`` cell magic. They parse, then call the API."""

from __future__ import annotations

import argparse
import ast
import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from flowat_kernel.compiler.header import HeaderError, parse_step_header
from flowat_kernel.errors import CompileError, FlowAtError
from flowat_kernel.notebook.registry import KernelNotebook

__all__ = ["FlowAtMagics"]

_USAGE = """\
%%flowat step NAME [--after A,B] [--retries N] [--timeout 30s] [--local]
    sandbox: --untrusted [--allow-network] [--secret NAME ...]
    logic:   --if | --switch | --set | --filter LIST | --wait 10s | --wait-for SIGNAL
    options: --when EXPR [--merge] --foreach LIST [--concurrency N] --in N=EXPR --out N=EXPR
%flowat publish WORKFLOW [--notebook PATH]
%flowat run WORKFLOW [--version N] [-p key=value ...] [--graph]
%flowat editor WORKFLOW [--version N] [--notebook PATH] | %flowat diff WORKFLOW A B
%flowat monitor RUN | %flowat debug RUN STEP | %flowat resume RUN [--notebook PATH]
%flowat versions WORKFLOW
%flowat runs [WORKFLOW] [--limit N]
%flowat steps
%flowat cancel RUN | %flowat rerun RUN [--version same|latest|N]
%flowat signal RUN NAME [-p key=value ... | --data JSON]
%flowat report RUN [-o OUT.ipynb]
%flowat schedule WORKFLOW "CRON" [-p key=value ...] | list | pause|resume|trigger|delete ID
%flowat webhook WORKFLOW [--unsigned] | list | delete ID
%flowat dlq [list | show ID | retry ID | discard ID]
%%flowat sql  (a SQL query over the analytics views; returns a data frame)
%flowat dashboard [WORKFLOW]
%flowat connectors
%flowat secret set NAME | list | delete NAME"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise FlowAtError(f"{self.prog}: {message}")


def _parser(prog: str) -> argparse.ArgumentParser:
    return _Parser(prog=prog, add_help=False)


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
    def flowat(self, line: str, cell: str | None = None) -> Any:
        """FlowAt: steps, publish, run, versions, runs. ``%flowat?`` lists the forms."""
        try:
            return self._dispatch(line, cell)
        except FlowAtError as exc:
            # IPython prints exactly ``UsageError`` as one line, without a traceback.
            raise UsageError(str(exc)) from None

    def _dispatch(self, line: str, cell: str | None) -> Any:
        if cell is not None:
            if line.split()[:1] == ["sql"]:
                from flowat_kernel.analytics.views import sql

                return sql(cell, frame=True)
            return self._step(line, cell)
        words = shlex.split(line)
        if not words:
            raise FlowAtError("usage:\n" + _USAGE)
        command, rest = words[0], words[1:]
        handler = getattr(self, f"_cmd_{command}", None)
        if handler is None:
            raise FlowAtError(f"unknown command {command!r}; usage:\n" + _USAGE)
        return handler(rest)

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

    # -- line commands ----------------------------------------------------------------

    def _cmd_publish(self, argv: list[str]) -> Any:
        parser = _parser("%flowat publish")
        parser.add_argument("workflow")
        parser.add_argument("--notebook")
        args = parser.parse_args(argv)
        from flowat_kernel import api

        path = self.notebook.notebook_path(self.ip.user_ns, args.notebook)
        try:
            return api.publish(args.workflow, cells=self.notebook.cells(path))
        except CompileError as exc:
            if path is None and any(d.code == "undefined-name" for d in exc.diagnostics):
                raise FlowAtError(
                    f"{exc}\n(the kernel cannot see cell tags: pass --notebook PATH so FlowAt can "
                    "read the cell tagged `parameters`)"
                ) from None
            raise

    def _cmd_run(self, argv: list[str]) -> Any:
        parser = _parser("%flowat run")
        parser.add_argument("workflow")
        parser.add_argument("--version", type=int)
        parser.add_argument("-p", "--param", action="append", default=[])
        parser.add_argument("--graph", action="store_true")
        args = parser.parse_args(argv)
        from flowat_kernel import api
        from flowat_kernel.notebook.progress import NotebookProgress
        from flowat_kernel.params import parse_assignments

        if args.graph:
            from flowat_kernel.notebook.editor_magics import run_with_graph

            return run_with_graph(args.workflow, args.version, parse_assignments(args.param))
        return api.run(
            args.workflow,
            version=args.version,
            parameters=parse_assignments(args.param),
            progress=NotebookProgress(),
            trigger="notebook",
            worker="always",
        )

    def _cmd_cancel(self, argv: list[str]) -> Any:
        parser = _parser("%flowat cancel")
        parser.add_argument("run_id")
        args = parser.parse_args(argv)
        from flowat_kernel import api

        api.cancel(args.run_id)
        return api.wait(args.run_id, timeout=120)

    def _cmd_editor(self, argv: list[str]) -> Any:
        from flowat_kernel.notebook.editor_magics import editor_command

        return editor_command(self, argv)

    def _cmd_diff(self, argv: list[str]) -> Any:
        from flowat_kernel.notebook.editor_magics import diff_command

        return diff_command(self, argv)

    def _cmd_monitor(self, argv: list[str]) -> Any:
        from flowat_kernel.notebook.editor_magics import monitor_command

        return monitor_command(self, argv)

    def _cmd_debug(self, argv: list[str]) -> Any:
        from flowat_kernel.notebook.editor_magics import debug_command

        return debug_command(self, argv)

    def _cmd_resume(self, argv: list[str]) -> Any:
        from flowat_kernel.notebook.editor_magics import resume_command

        return resume_command(self, argv)

    def _cmd_schedule(self, argv: list[str]) -> Any:
        from flowat_kernel.notebook.trigger_magics import cmd_schedule

        return cmd_schedule(self, argv)

    def _cmd_webhook(self, argv: list[str]) -> Any:
        from flowat_kernel.notebook.trigger_magics import cmd_webhook

        return cmd_webhook(self, argv)

    def _cmd_report(self, argv: list[str]) -> Any:
        from flowat_kernel.notebook.report_magic import report_command

        return report_command(argv)

    def _cmd_signal(self, argv: list[str]) -> Any:
        parser = _parser("%flowat signal")
        parser.add_argument("run_id")
        parser.add_argument("name")
        parser.add_argument("-p", "--param", action="append", default=[])
        parser.add_argument("--data")
        args = parser.parse_args(argv)
        from flowat_kernel import api
        from flowat_kernel.cli.signals import signal_payload

        return api.signal(args.run_id, args.name, signal_payload(args.data, args.param))

    def _cmd_rerun(self, argv: list[str]) -> Any:
        parser = _parser("%flowat rerun")
        parser.add_argument("run_id")
        parser.add_argument("--version", default="same")
        args = parser.parse_args(argv)
        from flowat_kernel import api
        from flowat_kernel.notebook.progress import NotebookProgress

        version = int(args.version) if args.version.isdigit() else args.version
        return api.rerun(args.run_id, version=version, progress=NotebookProgress(), worker="always")

    def _cmd_dlq(self, argv: list[str]) -> Any:
        """``%flowat dlq`` lists parked steps; ``show``, ``retry`` and ``discard`` an ID."""
        from flowat_kernel import dlq

        action, rest = (argv[0], argv[1:]) if argv else ("list", [])
        if action == "list" and not rest:
            import pandas as pd

            return pd.DataFrame([letter.as_dict() for letter in dlq.dlq_list()])
        if action in ("show", "retry", "discard") and len(rest) == 1:
            if action == "show":
                return dlq.dlq_show(rest[0])
            if action == "retry":
                return dlq.dlq_retry(rest[0])
            dlq.dlq_discard(rest[0])
            print(f"dead letter {rest[0]}: discarded")
            return None
        raise FlowAtError("usage: %flowat dlq [list | show ID | retry ID | discard ID]")

    def _cmd_dashboard(self, argv: list[str]) -> Any:
        """``%flowat dashboard [WORKFLOW]``: runs, failures, durations, errors, LLM cost."""
        parser = _parser("%flowat dashboard")
        parser.add_argument("workflow", nargs="?")
        args = parser.parse_args(argv)
        from flowat_kernel.analytics.dashboard import Dashboard

        return Dashboard(workflow=args.workflow).widget

    def _cmd_connectors(self, argv: list[str]) -> Any:
        """``%flowat connectors``: installed connectors' actions as a data frame."""
        import pandas as pd

        from flowat_kernel.sdk.registry import connectors

        return pd.DataFrame(
            [
                {
                    "action": a.full_name,
                    "retry_safe": a.retry_safe,
                    "inputs": ", ".join(a.input.model_fields),
                    "description": a.description,
                }
                for c in sorted(connectors().values(), key=lambda c: c.id)
                for a in c.actions.values()
            ]
        )

    def _cmd_versions(self, argv: list[str]) -> Any:
        parser = _parser("%flowat versions")
        parser.add_argument("workflow")
        args = parser.parse_args(argv)
        import pandas as pd

        from flowat_kernel import api
        from flowat_kernel.cli.output import version_rows

        headers, rows = version_rows(api.versions(args.workflow))
        return pd.DataFrame(rows, columns=headers)

    def _cmd_runs(self, argv: list[str]) -> Any:
        parser = _parser("%flowat runs")
        parser.add_argument("workflow", nargs="?")
        parser.add_argument("--limit", type=int, default=20)
        args = parser.parse_args(argv)
        import pandas as pd

        from flowat_kernel import api
        from flowat_kernel.cli.output import run_rows

        headers, rows = run_rows(api.runs(args.workflow, args.limit))
        return pd.DataFrame(rows, columns=headers)

    def _cmd_secret(self, argv: list[str]) -> Any:
        """``%flowat secret set NAME`` (asks with getpass), ``list``, ``delete NAME``."""
        from flowat_kernel.vault import api

        action, rest = (argv[0], argv[1:]) if argv else ("", [])
        if action == "set" and len(rest) == 1:
            import getpass

            name = rest[0]
            value = getpass.getpass(f"value of secret {name} (not echoed, not saved): ")
            info = api.set_secret(name, value)
            short = api.too_short_to_mask(value)
            del value
            verb = "stored" if info.version == 1 else f"rotated to version {info.version}"
            print(f"secret {name}: {verb}; use it in a step as flowat.secret({name!r}).reveal()")
            if short:
                print(f"warning: {name} is shorter than 4 characters and cannot be masked")
            return None
        if action == "set":
            raise FlowAtError(
                "usage: %flowat secret set NAME (the value is asked for, never typed on the "
                "magic line, so that it cannot be saved in the notebook)"
            )
        if action == "list" and not rest:
            import pandas as pd

            return pd.DataFrame([info.as_dict() for info in api.list_secrets()])
        if action == "delete" and len(rest) == 1:
            api.delete_secret(rest[0])
            print(f"secret {rest[0]}: deleted")
            return None
        raise FlowAtError("usage: %flowat secret set NAME | list | delete NAME")

    def _cmd_steps(self, argv: list[str]) -> Any:
        return list(self.notebook.step_names)
