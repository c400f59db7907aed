"""How a command is declared: its name, arguments, help and lazy handlers, per face.

A FlowAt command has up to two faces: the ``flowat`` command line (``CLI``) and the
``%flowat`` magic (``MAGIC``). One :class:`Command` declares both; an :class:`Arg` or an
action that only one face takes says so with ``faces``. Handlers are named as
``"module:function"`` strings and imported only when the command runs, so building a
parser or printing help imports nothing but this package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["BOTH", "CLI", "JSON_HELP", "MAGIC", "Arg", "Command", "Face", "arg"]

Face = Literal["cli", "magic"]
CLI: Face = "cli"
MAGIC: Face = "magic"
BOTH: frozenset[Face] = frozenset({CLI, MAGIC})
JSON_HELP = "print one JSON document on standard output"


@dataclass(frozen=True)
class Arg:
    """One argument of a command: argparse's options, and the faces that take it.

    ``hidden`` arguments are parsed but left out of usage and help (for instance the
    words after ``%flowat secret set NAME``, refused by the handler without echoing them).
    """

    flags: tuple[str, ...]
    help: str = ""
    metavar: str | None = None
    nargs: str | None = None
    action: str | None = None
    type: Callable[[str], Any] | None = None
    default: Any = None
    choices: tuple[str, ...] | None = None
    required: bool = False
    dest: str | None = None
    faces: frozenset[Face] = BOTH
    hidden: bool = False

    @property
    def positional(self) -> bool:
        """Whether the argument is positional (no leading dash)."""
        return not self.flags[0].startswith("-")

    @property
    def display(self) -> str:
        """How usage and help name it: ``RUN_ID``, ``-p, --param KEY=VALUE``, ``--json``."""
        if self.positional:
            if self.metavar:
                return self.metavar
            return "|".join(self.choices) if self.choices else self.flags[0].upper()
        names = ", ".join(self.flags)
        value = self.value_name()
        return f"{names} {value}" if value else names

    def value_name(self) -> str:
        """The placeholder of an option's value ('' for a flag)."""
        if self.action in ("store_true", "store_false"):
            return ""
        if self.metavar:
            return self.metavar
        if self.choices:
            return "|".join(self.choices)
        return self.flags[-1].lstrip("-").replace("-", "_").upper()

    def usage(self) -> str:
        """The argument as it appears in a usage line."""
        if self.positional:
            name = self.display
            if self.nargs == "?":
                return f"[{name}]"
            if self.nargs == "*":
                return f"[{name} ...]"
            return name
        value = self.value_name()
        text = f"{self.flags[0]} {value}" if value else self.flags[0]
        if self.action == "append":
            text += " ..."
        return text if self.required else f"[{text}]"

    def argparse_options(self) -> dict[str, Any]:
        """The keyword arguments of ``ArgumentParser.add_argument``."""
        options: dict[str, Any] = {"help": self.help}
        for name in ("metavar", "nargs", "action", "type", "dest"):
            if name == "metavar" and self.positional:
                continue  # argparse names a positional by its dest in errors; keep that
            value = getattr(self, name)
            if value is not None:
                options[name] = value
        if self.default is not None:
            options["default"] = self.default
        if self.choices is not None:
            options["choices"] = self.choices
        if self.required:
            options["required"] = True
        return options


def arg(
    *flags: str,
    help: str = "",
    metavar: str | None = None,
    nargs: str | None = None,
    action: str | None = None,
    type: Callable[[str], Any] | None = None,
    default: Any = None,
    choices: tuple[str, ...] | None = None,
    required: bool = False,
    dest: str | None = None,
    faces: frozenset[Face] = BOTH,
    hidden: bool = False,
) -> Arg:
    """Declare an argument (the flags as argparse takes them)."""
    return Arg(
        flags=flags,
        help=help,
        metavar=metavar,
        nargs=nargs,
        action=action,
        type=type,
        default=default,
        choices=choices,
        required=required,
        dest=dest,
        faces=faces,
        hidden=hidden,
    )


@dataclass(frozen=True)
class Command:
    """One command of the CLI and/or the magic.

    Attributes:
        name: the CLI's name (and the magic's, unless ``magic_name`` is given).
        help: one line, shown in listings and at the top of the command's help.
        args: its arguments (each for both faces unless it says otherwise).
        cli: ``"module:function"`` taking the parsed ``argparse.Namespace``, returning
            the exit code; ``None`` when the CLI has no such command.
        magic: ``"module:function"`` taking the magics object and the parsed namespace
            (a cell command: the magics object, the magic line and the cell), returning
            what the cell shows; ``None`` when there is no such magic.
        magic_name: the magic's name when it differs (``secret`` for ``secrets``).
        description: more paragraphs of help.
        actions: sub-commands (``flowat secrets set NAME``), each a ``Command``.
        default_action: the magic's action when the line names none (``list``).
        implied_action: the magic's action when the first word is not an action
            (``%flowat schedule W "CRON"`` adds).
        cell: a ``%%flowat`` cell command.
        usage: a written usage for the magic, for a line parsed elsewhere (``step``).
        json_help: the help of the CLI's ``--json`` (``None``: no ``--json``).

    """

    name: str
    help: str
    args: tuple[Arg, ...] = ()
    cli: str | None = None
    magic: str | None = None
    magic_name: str | None = None
    description: str = ""
    actions: tuple[Command, ...] = ()
    default_action: str | None = None
    implied_action: str | None = None
    cell: bool = False
    usage: str | None = None
    json_help: str | None = JSON_HELP

    @property
    def faces(self) -> frozenset[Face]:
        """The faces that have this command (or one of its actions)."""
        if self.actions:
            return frozenset(f for a in self.actions for f in a.faces)
        found: set[Face] = set()
        if self.cli:
            found.add(CLI)
        if self.magic:
            found.add(MAGIC)
        return frozenset(found)

    def on(self, face: Face) -> bool:
        """Whether ``face`` has this command."""
        return face in self.faces

    def name_on(self, face: Face) -> str:
        """The command's name on ``face``."""
        return self.magic_name or self.name if face == MAGIC else self.name

    def args_on(self, face: Face) -> list[Arg]:
        """The arguments ``face`` takes, in declaration order."""
        return [a for a in self.args if face in a.faces]

    def actions_on(self, face: Face) -> list[Command]:
        """The sub-commands ``face`` has."""
        return [a for a in self.actions if a.on(face)]

    def action(self, name: str) -> Command | None:
        """The sub-command called ``name``."""
        return next((a for a in self.actions if a.name == name), None)

    def action_names(self, face: Face) -> tuple[str, ...]:
        """The words that name an action on ``face`` (sub-commands, or an ``action`` choice)."""
        if self.actions:
            return tuple(a.name for a in self.actions_on(face))
        for a in self.args_on(face):
            if a.positional and a.flags[0] == "action" and a.choices:
                return a.choices
        return ()
