"""FlowAt's command grammar: one declaration per command, for the CLI and the magic.

:mod:`~flowat_kernel.commands.catalog` declares every command (name, arguments, help,
lazy handlers), gathering the groups declared in the ``catalog_*`` modules (workflows,
operations, triggers, access, bundles, policies; ``catalog_shared`` holds what they share);
:mod:`~flowat_kernel.commands.grammar` builds the ``flowat`` argparse parser, parses
``%flowat`` lines and writes usage and help from it; :mod:`~flowat_kernel.commands.values`
parses the values both faces share. Importing this package imports nothing beyond the
standard library and ``flowat_kernel.errors``.
"""

from __future__ import annotations

from flowat_kernel.commands.catalog import COMMANDS
from flowat_kernel.commands.grammar import (
    HelpRequested,
    build_cli_parser,
    find,
    handler,
    help_text,
    magic_usage,
    parse_magic,
)
from flowat_kernel.commands.model import BOTH, CLI, MAGIC, Arg, Command, Face, arg
from flowat_kernel.commands.values import (
    CommandError,
    duration,
    parameters,
    signal_payload,
    version_choice,
)

__all__ = [
    "BOTH",
    "CLI",
    "COMMANDS",
    "MAGIC",
    "Arg",
    "Command",
    "CommandError",
    "Face",
    "HelpRequested",
    "arg",
    "build_cli_parser",
    "duration",
    "find",
    "handler",
    "help_text",
    "magic_usage",
    "parameters",
    "parse_magic",
    "signal_payload",
    "version_choice",
]
