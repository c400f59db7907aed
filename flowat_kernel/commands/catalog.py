"""Every FlowAt command, declared once: the ``flowat`` CLI and the ``%flowat`` magic.

Handlers are ``"module:function"`` strings, imported only when the command runs. A
command, argument or action that one face lacks is marked with ``faces`` (or has no
handler for the other face). The order here is the order of ``flowat --help`` and of
the ``%flowat`` usage.

The commands are declared by group, each in its own module: building and running
workflows (:mod:`~flowat_kernel.commands.catalog_workflows`), operating FlowAt
(:mod:`~flowat_kernel.commands.catalog_operations`), triggers
(:mod:`~flowat_kernel.commands.catalog_triggers`), access
(:mod:`~flowat_kernel.commands.catalog_access`), bundles
(:mod:`~flowat_kernel.commands.catalog_bundles`) and the policies that govern runs
(:mod:`~flowat_kernel.commands.catalog_policies`); what groups share is in
:mod:`~flowat_kernel.commands.catalog_shared`.
"""

from __future__ import annotations

from flowat_kernel.commands.catalog_access import ACCESS_COMMANDS
from flowat_kernel.commands.catalog_bundles import BUNDLE_COMMANDS
from flowat_kernel.commands.catalog_operations import DEFAULT_API_PORT, OPERATIONS_COMMANDS
from flowat_kernel.commands.catalog_policies import POLICY_COMMANDS
from flowat_kernel.commands.catalog_shared import _M
from flowat_kernel.commands.catalog_triggers import OVERLAP_POLICIES, TRIGGER_COMMANDS
from flowat_kernel.commands.catalog_workflows import ON_FAILURE_CHOICES, WORKFLOW_COMMANDS
from flowat_kernel.commands.model import Command, arg

__all__ = ["COMMANDS", "DEFAULT_API_PORT", "ON_FAILURE_CHOICES", "OVERLAP_POLICIES"]

COMMANDS: tuple[Command, ...] = (
    *WORKFLOW_COMMANDS,
    *OPERATIONS_COMMANDS,
    *TRIGGER_COMMANDS,
    *ACCESS_COMMANDS,
    *BUNDLE_COMMANDS,
    *POLICY_COMMANDS,
    Command(
        "help",
        "the full help of a command, as flowat COMMAND --help prints it",
        args=(arg("topic", nargs="*", metavar="COMMAND", help="a command, and maybe its action"),),
        magic=_M + "help_command",
    ),
)
