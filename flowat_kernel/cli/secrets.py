"""``flowat secrets ...``: manage the vault. Values are read from standard input only."""

from __future__ import annotations

import argparse
import getpass
import sys

from flowat_kernel import api
from flowat_kernel.cli.output import print_json, table
from flowat_kernel.errors import VaultError

__all__ = [
    "cmd_delete",
    "cmd_history",
    "cmd_list",
    "cmd_retire_key",
    "cmd_rotate_key",
    "cmd_set",
    "read_secret_value",
]


def read_secret_value(name: str) -> str:
    """The value to store: asked for without echo on a terminal, else all of stdin.

    One trailing newline (as ``echo`` adds) is dropped.

    Raises:
        VaultError: standard input was empty.

    """
    if sys.stdin.isatty():
        value = getpass.getpass(f"value of secret {name} (not echoed): ")
    else:
        value = sys.stdin.read()
        if value.endswith("\n"):
            value = value[:-1]
            if value.endswith("\r"):
                value = value[:-1]
    if not value:
        raise VaultError(
            f"no value for secret {name!r} on standard input; pipe it in, for example "
            f"`flowat secrets set {name} < token.txt`"
        )
    return value


def cmd_set(args: argparse.Namespace) -> int:
    """``flowat secrets set NAME``: the value from standard input."""
    value = read_secret_value(args.name)
    info = api.set_secret(args.name, value)
    short = api.too_short_to_mask(value)
    del value
    if args.json:
        print_json(info.as_dict())
    else:
        verb = "stored" if info.version == 1 else f"rotated to version {info.version}"
        print(f"secret {info.name}: {verb}")
    if short:
        print(
            f"flowat: warning: secret {args.name} is shorter than 4 characters and cannot be "
            "masked in output",
            file=sys.stderr,
        )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """``flowat secrets list``: metadata only."""
    infos = api.list_secrets()
    if args.json:
        print_json([info.as_dict() for info in infos])
        return 0
    rows = [
        (
            i.name,
            i.version,
            i.created_at.strftime("%Y-%m-%d %H:%M"),
            i.rotated_at.strftime("%Y-%m-%d %H:%M") if i.rotated_at else "",
            i.last_used_at.strftime("%Y-%m-%d %H:%M") if i.last_used_at else "never",
            ", ".join(i.used_by),
        )
        for i in infos
    ]
    print(table(["name", "version", "created", "rotated", "last used", "used by"], rows))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    """``flowat secrets delete NAME``."""
    api.delete_secret(args.name)
    if args.json:
        print_json({"deleted": args.name})
    else:
        print(f"secret {args.name}: deleted")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """``flowat secrets history NAME``."""
    events = api.secret_history(args.name)
    if args.json:
        print_json(events)
    else:
        print(table(["action", "version", "at", "by"], [tuple(e.values()) for e in events]))
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    """``flowat secrets rotate-key``."""

    def progress(done: int, remaining: int) -> None:
        if not args.json:
            sys.stderr.write(f"re-wrapped {done} rows, {remaining} to go\n")

    report = api.rotate_master_key(on_batch=progress)
    if args.json:
        print_json(report.as_dict())
        return 0
    print(f"active master key: {report.active_key}; re-wrapped {report.rewrapped} rows")
    if report.retired:
        print("retired: " + ", ".join(report.retired))
    if report.remaining:
        print(f"{report.remaining} rows still need an old key; run rotate-key again")
    return 0


def cmd_retire_key(args: argparse.Namespace) -> int:
    """``flowat secrets retire-key KEY_ID``."""
    api.retire_master_key(args.key_id)
    if args.json:
        print_json({"retired": args.key_id})
    else:
        print(f"master key {args.key_id}: retired")
    return 0
