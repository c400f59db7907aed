"""Values on a command line, parsed once for the CLI and the magic, and error kinds.

``-p key=value`` parameters, a signal's ``--data JSON`` payload, ``--version
same|latest|N`` and durations such as ``30d`` or ``15m``. Whatever they need beyond the
standard library is imported when a value is parsed, not when a parser is built.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from datetime import timedelta

from flowat_kernel.errors import FlowAtError

__all__ = [
    "CommandError",
    "duration",
    "parameters",
    "signal_payload",
    "version_choice",
]


class CommandError(FlowAtError):
    """A command line or magic line that does not parse; the message says what to type.

    A usage error: the command line exits 2, the magic shows it as one line.
    """

    usage = True


def parameters(items: Iterable[str] | None) -> dict[str, str]:
    """``-p key=value`` pairs as a dict of strings (typed later, by the workflow's inputs).

    Raises:
        ParameterError: an item without ``=``.

    """
    from flowat_kernel.params import parse_assignments

    return parse_assignments(items or [])


def signal_payload(data: str | None, params: Iterable[str] | None) -> object:
    """A signal's payload: ``--data JSON``, or ``-p key=value`` pairs (values read as JSON).

    Raises:
        CommandError: both given, or ``--data`` is not JSON.

    """
    params = list(params or [])
    if data is not None and params:
        raise CommandError("give the payload either as --data JSON or as -p key=value, not both")
    if data is not None:
        try:
            return json.loads(data)
        except ValueError as exc:
            raise CommandError(
                f"--data is not JSON ({exc}); e.g. --data '{{\"ok\": true}}'"
            ) from None
    if not params:
        return None
    payload: dict[str, object] = {}
    for key, text in parameters(params).items():
        try:
            payload[key] = json.loads(text)
        except ValueError:
            payload[key] = text
    return payload


def version_choice(text: str) -> int | str:
    """``--version same|latest|N``: the word, or the version number.

    Raises:
        argparse.ArgumentTypeError: anything else (argparse reports it as a usage error).

    """
    word = text.strip().lower()
    if word in ("same", "latest"):
        return word
    if word.isdigit() and int(word) > 0:
        return int(word)
    raise argparse.ArgumentTypeError(f"write same, latest or a version number, not {text!r}")


def duration(text: str | None) -> timedelta | None:
    """``30s``, ``15m``, ``12h``, ``30d`` (or ``None`` when not given) as a duration.

    Raises:
        FlowAtError: not a positive duration.

    """
    if not text:
        return None
    from flowat_kernel.triggers.schedules import parse_duration

    return parse_duration(text)
