"""The commands that build, run and inspect workflows.

Publishing and running (``step``, ``publish``, ``run``, ``rerun``, ``cancel``, ``signal``),
versions and runs (``versions``, ``runs``, ``report``) and the notebook's workflow tools
(``editor``, ``diff``, ``monitor``, ``debug``, ``resume``, ``steps``).
"""

from __future__ import annotations

from flowat_kernel.commands.catalog_shared import (
    _C,
    _CLI,
    _M,
    _MAGIC,
    _R,
    _RM,
    _RUN_ID,
    _WORKER,
    _WORKFLOW,
)
from flowat_kernel.commands.model import Command, arg
from flowat_kernel.commands.values import version_choice

__all__ = ["ON_FAILURE_CHOICES", "WORKFLOW_COMMANDS"]

_ED = "flowat_kernel.notebook.editor_magics:"

#: What a run does after a failed step (``flowat_kernel.spec.model.ON_FAILURE_CHOICES``).
ON_FAILURE_CHOICES = ("stop", "continue")

_PARAM = arg("-p", "--param", action="append", metavar="KEY=VALUE", help="a parameter (repeatable)")
_NO_WAIT = arg("--no-wait", action="store_true", help="start the run and return", faces=_CLI)

WORKFLOW_COMMANDS: tuple[Command, ...] = (
    Command(
        "step",
        "run the cell and register it as a step of the workflow being built",
        cell=True,
        magic=_M + "step_cell",
        usage="%%flowat step NAME [--after A,B] [--retries N] [--timeout 30s] [--local]\n"
        "    sandbox: --untrusted [--allow-network] [--secret NAME ...]\n"
        "    logic:   --if | --switch | --set | --filter LIST | --wait 10s | --wait-for SIGNAL\n"
        "    options: --when EXPR [--merge] --foreach LIST [--concurrency N] --in N=EXPR "
        "--out N=EXPR",
        description="The step line's options are described in the user guide (Steps, Logic "
        "steps); a line that does not parse says which option is wrong.",
    ),
    Command(
        "publish",
        "compile a notebook into a new workflow version (a new number only when its steps changed)",
        args=(
            arg("notebook", help="path of the .ipynb file", faces=_CLI),
            arg("--name", required=True, help="workflow name", faces=_CLI),
            arg("workflow", help="workflow name: the step cells this kernel ran", faces=_MAGIC),
            arg(
                "--notebook",
                metavar="PATH",
                help="the notebook's file, to read its cell tagged parameters",
                faces=_MAGIC,
            ),
            arg(
                "--on-failure",
                choices=ON_FAILURE_CHOICES,
                help="after a step fails for good: stop (no further step starts; the "
                "default) or continue (steps that do not depend on it still run); "
                "default: the notebook's metadata.flowat.on_failure, else stop",
            ),
            arg(
                "--queue",
                metavar="Q",
                help="task queue of every code, action and sub-workflow step without its own "
                "--queue (workers: flowat worker --queue Q); default: the notebook's "
                "metadata.flowat.queue, else the run's own",
            ),
        ),
        cli=_C + "cmd_publish",
        magic=_M + "publish",
    ),
    Command(
        "run",
        "run a workflow version and wait for it",
        args=(
            arg("workflow", nargs="?", help="workflow name", faces=_CLI),
            arg("workflow", help="workflow name", faces=_MAGIC),
            arg(
                "--notebook",
                metavar="NB.ipynb",
                help="publish this .ipynb first (when changed), then run it",
                faces=_CLI,
            ),
            _PARAM,
            arg("--version", type=int, metavar="N", help="version number (default: latest)"),
            arg(
                "--timeout",
                type=float,
                metavar="SECONDS",
                help="end the run as timed_out after this",
                faces=_CLI,
            ),
            _NO_WAIT,
            _WORKER,
            arg(
                "--graph",
                action="store_true",
                help="show the run's graph, coloured live",
                faces=_MAGIC,
            ),
        ),
        cli=_C + "cmd_run",
        magic=_M + "run",
    ),
    Command(
        "rerun",
        "re-run a run from the steps that did not succeed",
        args=(
            _RUN_ID,
            arg(
                "--version",
                type=version_choice,
                default="same",
                metavar="same|latest|N",
                help="'same' (default), 'latest', or a version number, e.g. after fixing a step",
            ),
            _NO_WAIT,
            _WORKER,
        ),
        cli=_C + "cmd_rerun",
        magic=_M + "rerun",
    ),
    Command(
        "cancel",
        "cancel a running run and wait until it has stopped",
        args=(
            _RUN_ID,
            arg(
                "--wait",
                type=float,
                default=120.0,
                metavar="SECONDS",
                help="how long to wait (120)",
            ),
        ),
        cli=_C + "cmd_cancel",
        magic=_M + "cancel",
    ),
    Command(
        "signal",
        "send a signal to a run: a --wait-for step waiting for it takes the payload",
        args=(
            _RUN_ID,
            arg("name", help="the signal's name, as given to --wait-for"),
            arg("-p", "--param", action="append", metavar="KEY=VALUE", help="payload field"),
            arg("--data", metavar="JSON", help="the whole payload as JSON"),
        ),
        cli="flowat_kernel.cli.signals:cmd_signal",
        magic=_M + "signal",
    ),
    Command(
        "versions",
        "list a workflow's versions, newest first",
        args=(_WORKFLOW,),
        cli=_C + "cmd_versions",
        magic=_M + "versions",
    ),
    Command(
        "runs",
        "list recent runs, newest first",
        args=(
            arg("workflow", nargs="?", help="only this workflow's runs (or: delete)"),
            arg("run_ids", nargs="*", metavar="RUN", help="delete: the runs (ids or prefixes)"),
            arg("--limit", type=int, default=20, metavar="N", help="how many (20)"),
            arg("--force", action="store_true", help="delete: also active runs (terminated)"),
        ),
        description="flowat runs delete RUN... deletes runs with their records, logs, outputs, "
        "artifacts, analytics events and Temporal executions; the audit log keeps who did.",
        cli=_R + "cmd_runs",
        magic=_RM + "runs",
    ),
    Command(
        "report",
        "export a run as an executed notebook (papermill's output format)",
        args=(
            _RUN_ID,
            arg(
                "-o",
                "--output",
                metavar="OUT.ipynb",
                help="where to write the notebook (command line default: RUN_ID.ipynb here; "
                "in a notebook it is only shown unless given)",
            ),
        ),
        cli="flowat_kernel.cli.reports:cmd_report",
        magic="flowat_kernel.notebook.report_magic:report",
    ),
    Command(
        "editor",
        "the graph editor of a workflow: edit steps and settings, save a new version",
        args=(
            _WORKFLOW,
            arg("--version", type=int, metavar="N", help="the version shown (default: latest)"),
            arg("--notebook", metavar="PATH", help="also write edited step lines to this file"),
        ),
        magic=_ED + "editor",
    ),
    Command(
        "diff",
        "two versions of a workflow side by side",
        args=(
            _WORKFLOW,
            arg("old", type=int, metavar="A", help="the older version"),
            arg("new", type=int, metavar="B", help="the newer version"),
        ),
        magic=_ED + "diff",
    ),
    Command(
        "monitor",
        "a run's graph, coloured by step state, live until the run ends",
        args=(
            _RUN_ID,
            arg(
                "--interval",
                type=float,
                default=0.5,
                metavar="SECONDS",
                help="seconds between updates (0.5)",
            ),
        ),
        magic=_ED + "monitor",
    ),
    Command(
        "debug",
        "load the inputs a step received in a run into the kernel",
        args=(
            _RUN_ID,
            arg("step", help="the step's name"),
            arg(
                "--no-prelude",
                action="store_true",
                help="without the imports and functions the step uses",
            ),
        ),
        magic=_ED + "debug",
    ),
    Command(
        "resume",
        "publish the step cells run here and re-run a run from its failed step",
        args=(
            _RUN_ID,
            arg("--notebook", metavar="PATH", help="the notebook's file, for its parameters cell"),
        ),
        magic=_ED + "resume",
    ),
    Command(
        "steps",
        "the step names registered in this kernel",
        magic=_M + "steps",
    ),
)
