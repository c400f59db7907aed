"""What several groups of the command catalog share: faces, handler modules, arguments.

Handlers are ``"module:function"`` strings; the prefixes here name the modules that hold
handlers of more than one group. A piece only one group uses is declared with that group.
"""

from __future__ import annotations

from flowat_kernel.commands.model import CLI, MAGIC, arg

_CLI = frozenset({CLI})
_MAGIC = frozenset({MAGIC})
_C = "flowat_kernel.cli.commands:"
_M = "flowat_kernel.notebook.magics:"
_R = "flowat_kernel.cli.retention:"
_RM = "flowat_kernel.notebook.retention_magics:"

_WORKER = arg(
    "--worker",
    choices=("auto", "here", "shared", "always", "never"),
    default="auto",
    help="where the run executes: here (this process, its folder and packages; the "
    "default, or FLOWAT_RUN_ON), shared (the flowat worker processes; one runs here if "
    "none is alive), never (shared, never starting one here); always = here",
    faces=_CLI,
)
_ORG = arg("--org", help="organization (default: your personal one)", faces=_CLI)
_RUN_ID = arg("run_id", metavar="RUN_ID", help="the run's id")
_WORKFLOW = arg("workflow", help="workflow name")
