"""Parsers, usage and help built from the command declarations, for either face.

The CLI gets one argparse parser with a sub-parser per command; the magic parses one
command at a time (its name is looked up first, so an unknown name reads as such).
``flowat CMD --help`` and ``%flowat help CMD`` print the same text, :func:`help_text`,
which shows the command on both faces.
"""

from __future__ import annotations

import argparse
import importlib
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from flowat_kernel.commands.catalog import COMMANDS
from flowat_kernel.commands.model import CLI, MAGIC, Arg, Command, Face
from flowat_kernel.commands.values import CommandError

__all__ = [
    "HelpRequested",
    "build_cli_parser",
    "find",
    "handler",
    "help_text",
    "magic_usage",
    "parse_magic",
]

WIDTH = 96
_HELP_ARG = Arg(flags=("-h", "--help"), help="show this help", action="store_true")
_FACE_NOTE = {CLI: " (command line only)", MAGIC: " (notebook only)"}


class HelpRequested(Exception):
    """``%flowat CMD --help`` or ``%flowat help CMD``: ``text`` is what to print."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def find(name: str, face: Face) -> Command | None:
    """The command called ``name`` on ``face``."""
    return next((c for c in COMMANDS if c.on(face) and c.name_on(face) == name), None)


def handler(reference: str) -> Callable[..., Any]:
    """Import ``"module:function"`` now, when the command runs."""
    module, _, name = reference.partition(":")
    found: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return found


# -- help and usage -----------------------------------------------------------------------


def _prefix(command: Command, face: Face) -> str:
    if face == CLI:
        return "flowat"
    return "%%flowat" if command.cell else "%flowat"


def _usage_tokens(path: Sequence[Command], face: Face) -> list[str]:
    """``["flowat secrets set", "NAME", "[--json]"]`` for the command at ``path`` on ``face``."""
    command = path[-1]
    tokens = [" ".join([_prefix(path[0], face), *(c.name_on(face) for c in path)])]
    if command.actions:
        names = "|".join(a.name for a in command.actions_on(face))
        tokens.append(f"[{names}]" if face == MAGIC and command.default_action else names)
        tokens.append("...")
    else:
        tokens += [a.usage() for a in command.args_on(face) if not a.hidden]
        if face == CLI and command.json_help:
            tokens.append("[--json]")
    return tokens


def _usage_line(path: Sequence[Command], face: Face) -> str:
    """The usage of the command at ``path`` on ``face``, on one line."""
    if face == MAGIC and path[-1].usage:
        return path[-1].usage
    return " ".join(_usage_tokens(path, face))


def _wrap_usage(lead: str, path: Sequence[Command], face: Face) -> list[str]:
    """The usage, wrapped between arguments under the command's name."""
    if face == MAGIC and path[-1].usage:
        return [
            lead + line if i == 0 else line for i, line in enumerate(path[-1].usage.splitlines())
        ]
    head, *tokens = _usage_tokens(path, face)
    indent = " " * (len(lead) + len(head) + 1)
    lines = [lead + head]
    for token in tokens:
        if len(lines[-1]) + 1 + len(token) > WIDTH and len(lines[-1]) > len(indent):
            lines.append(indent + token)
        else:
            lines[-1] += " " + token
    return lines


def _json_arg(command: Command) -> Arg | None:
    if command.json_help is None or command.actions:
        return None
    return Arg(
        flags=("--json",), help=command.json_help, action="store_true", faces=frozenset({CLI})
    )


def _argument_rows(command: Command, faces: frozenset[Face]) -> list[tuple[str, str]]:
    """(name, help) of each argument, once, noting the face when only one takes it."""
    rows: dict[str, tuple[str, set[Face]]] = {}
    extra = [a for a in (_json_arg(command),) if a is not None]
    for a in [*command.args, *extra]:
        if a.hidden:
            continue
        text, seen = rows.setdefault(a.display, (a.help, set()))
        seen.update(a.faces & faces)
    listed = []
    for display, (text, seen) in rows.items():
        note = _FACE_NOTE[next(iter(seen))] if len(faces) > 1 and len(seen) == 1 else ""
        listed.append((display, text + note))
    listed.append((_HELP_ARG.display, _HELP_ARG.help))
    return listed


def _rows(title: str, rows: list[tuple[str, str]]) -> list[str]:
    width = min(max(len(name) for name, _ in rows) + 2, 28)
    lines = ["", f"{title}:"]
    for name, text in rows:
        head = f"  {name}".ljust(width + 2)
        if len(head) > width + 2:
            lines.append(f"  {name}")
            head = " " * (width + 2)
        wrapped = textwrap.wrap(text, WIDTH - len(head)) or [""]
        lines.append(head + wrapped[0])
        lines += [" " * len(head) + more for more in wrapped[1:]]
    return lines


def help_text(*names: str) -> str:
    """The help of a command (``help_text("secrets", "set")``), the same on both faces.

    Names may be given as either face calls them (``secret`` or ``secrets``).

    Raises:
        CommandError: no such command or action.

    """
    return _help(_path(names))


def _path(names: Sequence[str]) -> list[Command]:
    command = find(names[0], CLI) or find(names[0], MAGIC) if names else None
    if command is None:
        raise CommandError(
            f"no command {names[0]!r}; %flowat? (or flowat --help) lists them"
            if names
            else "name a command"
        )
    path = [command]
    for name in names[1:]:
        action = path[-1].action(name)
        if action is None:
            known = ", ".join(a.name for a in path[-1].actions) or "none"
            raise CommandError(f"{command.name} has no action {name!r} (actions: {known})")
        path.append(action)
    return path


def _help(path: Sequence[Command]) -> str:
    command = path[-1]
    faces = [f for f in (CLI, MAGIC) if path[0].on(f) and command.on(f)]
    lines = []
    for index, face in enumerate(faces):
        lead = "       " if index else "usage: "
        lines += _wrap_usage(lead, path, face)
    lines.append("")
    lines += textwrap.wrap(command.help, WIDTH)
    if command.description:
        for paragraph in command.description.split("\n\n"):
            lines += ["", *textwrap.wrap(paragraph, WIDTH)]
    face_set = frozenset(faces)
    if command.actions:
        rows = []
        for action in command.actions:
            on = action.faces & face_set
            note = _FACE_NOTE[next(iter(on))] if len(face_set) > 1 and len(on) == 1 else ""
            rows.append((action.name, action.help + note))
        lines += _rows("actions", rows)
        names = " ".join(c.name for c in path)
        lines += ["", f"Each action's own help: flowat {names} ACTION --help."]
    elif not command.usage:
        lines += _rows("arguments", _argument_rows(command, face_set))
    return "\n".join(lines) + "\n"


def magic_usage() -> str:
    """Every magic's usage line with its help: the ``%flowat`` magic's docstring."""
    lines = []
    for command in COMMANDS:
        if not command.on(MAGIC):
            continue
        lines += [*_wrap_usage("", [command], MAGIC), f"    {command.help}"]
    lines.append("%flowat help COMMAND (or %flowat COMMAND --help): one command in full.")
    return "\n".join(lines)


# -- argparse -------------------------------------------------------------------------------


class _CliParser(argparse.ArgumentParser):
    """A ``flowat`` sub-command's parser: ``--help`` prints the declared help."""

    command_path: Sequence[Command] = ()

    def format_help(self) -> str:
        if self.command_path:
            return _help(self.command_path)
        return super().format_help()


class _MagicParser(argparse.ArgumentParser):
    """A ``%flowat`` command's parser: problems raise, nothing exits."""

    command_path: Sequence[Command] = ()

    def error(self, message: str) -> NoReturn:
        raise CommandError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise CommandError(message or f"{self.prog}: stopped")


class _MagicHelp(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        raise HelpRequested(_help(getattr(parser, "command_path", ())))


def _add_arguments(parser: argparse.ArgumentParser, path: list[Command], face: Face) -> None:
    command = path[-1]
    parser.command_path = list(path)  # type: ignore[attr-defined]
    if face == MAGIC:
        parser.add_argument("-h", "--help", action=_MagicHelp, help=_HELP_ARG.help)
    for a in command.args_on(face):
        parser.add_argument(*a.flags, **a.argparse_options())
    if face == CLI and (json := _json_arg(command)) is not None:
        parser.add_argument(*json.flags, **json.argparse_options())
    if command.actions:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        for action in command.actions_on(face):
            sub = actions.add_parser(
                action.name_on(face),
                help=action.help,
                description=action.help,
                add_help=face == CLI,
            )
            _add_arguments(sub, [*path, action], face)
    else:
        parser.set_defaults(flowat_command=command)


def build_cli_parser() -> argparse.ArgumentParser:
    """The ``flowat`` parser: every command of the CLI, as declared."""
    parser = argparse.ArgumentParser(
        prog="flowat",
        description="FlowAt: notebook cells as durable workflows on Temporal. "
        "`flowat COMMAND --help` for a command's options.",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_CliParser
    )
    for command in COMMANDS:
        if command.on(CLI):
            p = sub.add_parser(command.name, help=command.help, description=command.help)
            _add_arguments(p, [command], CLI)
    return parser


def parse_magic(words: Sequence[str]) -> tuple[Command, argparse.Namespace]:
    """The command a ``%flowat`` line names, and its parsed arguments.

    Raises:
        CommandError: no such command, or arguments that do not parse.
        HelpRequested: ``--help`` was asked for.

    """
    if not words:
        raise CommandError("usage:\n" + magic_usage())
    command = find(words[0], MAGIC)
    if command is None or command.cell:
        names = ", ".join(c.name_on(MAGIC) for c in COMMANDS if c.on(MAGIC) and not c.cell)
        raise CommandError(
            f"unknown command {words[0]!r}; the commands are {names} (and the cell magics "
            "%%flowat step and %%flowat sql); %flowat? shows their usage"
        )
    rest = list(words[1:])
    if command.action_names(MAGIC):
        if not rest:
            if command.default_action is None:
                raise CommandError(f"usage: {_usage_line([command], MAGIC)}")
            rest = [command.default_action]
        elif command.implied_action and rest[0] not in (
            *command.action_names(MAGIC),
            "-h",
            "--help",
        ):
            rest.insert(0, command.implied_action)
    parser = _MagicParser(prog=f"%flowat {command.name_on(MAGIC)}", add_help=False)
    _add_arguments(parser, [command], MAGIC)
    args = parser.parse_args(rest)
    found: Command = args.flowat_command
    return found, args
