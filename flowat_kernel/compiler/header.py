"""The ``%%flowat step NAME [options]`` line: parsing and writing it."""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass
from functools import cache

__all__ = ["HeaderError", "StepHeader", "parse_duration", "parse_step_header"]


class HeaderError(ValueError):
    """The step line is malformed; ``code`` is ``unknown-option`` or ``bad-option``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class StepHeader:
    """Options given on a step's magic line."""

    name: str
    after: tuple[str, ...] = ()
    retries: int | None = None
    timeout_seconds: float | None = None
    local: bool = False
    untrusted: bool = False
    allow_network: bool = False
    secrets: tuple[str, ...] = ()
    workflow: str | None = None
    workflow_version: int | None = None
    action: str | None = None
    logic: str | None = None
    filter_items: str | None = None
    wait_seconds: float | None = None
    signal: str | None = None
    when: str | None = None
    merge: bool = False
    foreach: str | None = None
    concurrency: int | None = None
    chunk: int | None = None
    map_in: tuple[tuple[str, str], ...] = ()
    map_out: tuple[tuple[str, str], ...] = ()
    queue: str | None = None
    tool: bool = False

    @property
    def kind(self) -> str:
        """The spec's step kind: code, workflow, action or a logic kind."""
        if self.workflow is not None:
            return "workflow"
        if self.action is not None:
            return "action"
        return self.logic or "code"

    @property
    def exports_own_name(self) -> bool:
        """Steps that export one value, their result, under their own name.

        Sub-workflow, action, if, switch, filter and wait steps; a ``set`` step exports
        the names it assigns, like code.
        """
        return self.kind not in ("code", "set")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """Parse ``500ms``, ``30s``, ``5m``, ``1h`` or a plain number of seconds.

    Raises:
        ValueError: the text is not a positive duration.

    """
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration; write it like 30s, 5m, 1h or 500ms")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be more than zero")
    return seconds


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        if "unrecognized arguments" in message:
            raise HeaderError(
                "unknown-option", message.replace("unrecognized arguments", "unknown option")
            )
        raise HeaderError("bad-option", message)


@cache
def _parser() -> argparse.ArgumentParser:
    """The step line's parser, built once: ``parse_args`` leaves it as it was."""
    parser = _Parser(prog="%%flowat step", add_help=False, exit_on_error=False)
    parser.add_argument("name")
    parser.add_argument("--after", default="")
    parser.add_argument("--retries", type=int)
    parser.add_argument("--timeout")
    parser.add_argument("--local", action="store_true")
    parser.add_argument("--untrusted", action="store_true")
    parser.add_argument("--allow-network", action="store_true")
    parser.add_argument("--secret", action="append", default=[])
    parser.add_argument("--workflow")
    parser.add_argument("--version", type=int)
    parser.add_argument("--action")
    parser.add_argument("--if", dest="if_", action="store_true")
    parser.add_argument("--switch", action="store_true")
    parser.add_argument("--set", dest="set_", action="store_true")
    parser.add_argument("--filter")
    parser.add_argument("--wait")
    parser.add_argument("--wait-for")
    parser.add_argument("--when")
    parser.add_argument("--merge", action="store_true")
    parser.add_argument("--foreach")
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--chunk", type=int)
    parser.add_argument("--in", dest="map_in", action="append", default=[])
    parser.add_argument("--out", dest="map_out", action="append", default=[])
    parser.add_argument("--queue")
    parser.add_argument("--tool", action="store_true")
    return parser


@cache
def _defaults() -> dict[str, object]:
    """What the parser gives a step line with a name and no option (the name aside)."""
    return vars(_parser().parse_args(["name"]))


_MAPPING = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)\s*(.+?)\s*$", re.DOTALL)


def _mappings(option: str, items: list[str]) -> tuple[tuple[str, str], ...]:
    found: dict[str, str] = {}
    for item in items:
        match = _MAPPING.match(item)
        if not match:
            raise HeaderError(
                "bad-option",
                f"{option} {item!r}: write it as NAME=EXPRESSION, e.g. {option} "
                "'rows=response[\"items\"]' (quote it when it has spaces)",
            )
        if match.group(1) in found:
            raise HeaderError("bad-option", f"{option} maps {match.group(1)!r} twice")
        found[match.group(1)] = match.group(2)
    return tuple(found.items())


def _logic(ns: argparse.Namespace) -> tuple[str | None, float | None]:
    """The logic kind the options ask for (at most one), and a --wait duration."""
    chosen = [
        option
        for option, given in (
            ("--if", ns.if_),
            ("--switch", ns.switch),
            ("--set", ns.set_),
            ("--filter", ns.filter is not None),
            ("--wait", ns.wait is not None),
            ("--wait-for", ns.wait_for is not None),
            ("--workflow", ns.workflow is not None),
            ("--action", ns.action is not None),
        )
        if given
    ]
    if len(chosen) > 1:
        raise HeaderError(
            "bad-option", f"a step is one kind: choose one of {', '.join(chosen)}, not several"
        )
    kind = {
        "--if": "if",
        "--switch": "switch",
        "--set": "set",
        "--filter": "filter",
        "--wait": "wait",
        "--wait-for": "wait",
    }.get(chosen[0] if chosen else "")
    if kind is None:
        return None, None
    misfits = [
        option
        for option, given in (
            ("--retries", ns.retries is not None),
            ("--local", ns.local),
            ("--untrusted", ns.untrusted),
            ("--queue", ns.queue is not None),
            ("--foreach", ns.foreach is not None),
            ("--in", bool(ns.map_in)),
            ("--out", bool(ns.map_out)),
            ("--timeout", ns.timeout is not None and ns.wait_for is None),
        )
        if given
    ]
    if misfits:
        raise HeaderError(
            "bad-option",
            f"{chosen[0]} makes a logic step, which the workflow evaluates itself: "
            f"{', '.join(misfits)} do not apply to it",
        )
    wait = None
    if ns.wait is not None:
        try:
            wait = parse_duration(ns.wait)
        except ValueError as exc:
            raise HeaderError("bad-option", f"--wait: {exc}") from exc
    if ns.wait_for is not None and not ns.wait_for.isidentifier():
        raise HeaderError(
            "bad-option", f"--wait-for {ns.wait_for!r}: name the signal with a Python identifier"
        )
    return kind, wait


_QUEUE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")  # spec.model.QUEUE_PATTERN


def _check_queue(ns: argparse.Namespace) -> None:
    """``--queue Q``: a valid task queue name, on a step that leaves the workflow's worker."""
    if ns.queue is None:
        return
    if not _QUEUE.match(ns.queue):
        raise HeaderError(
            "bad-option",
            f"--queue {ns.queue!r}: name a task queue with letters, digits, '_', '-' and '.' "
            "(at most 200 characters, not starting with '.' or '-'), e.g. gpu or eu-west",
        )
    if ns.local:
        raise HeaderError(
            "bad-option",
            "--local runs the step inside the worker that runs its workflow, so it cannot be "
            f"routed to --queue {ns.queue}: drop --local (the step then runs on a worker "
            f"polling {ns.queue!r}) or drop --queue",
        )


def parse_step_header(arguments: str) -> StepHeader:
    """Parse what follows ``%%flowat`` on a step cell's first line (``step NAME ...``).

    Raises:
        HeaderError: unknown option, missing name or a malformed value.

    """
    try:
        words = shlex.split(arguments)
    except ValueError as exc:
        raise HeaderError("bad-option", f"cannot split the step line: {exc}") from exc
    if not words or words[0] != "step":
        raise HeaderError("bad-option", "a step cell starts with: %%flowat step NAME")
    if len(words) == 1:
        raise HeaderError("bad-option", "the step needs a name: %%flowat step NAME")
    if len(words) == 2 and not words[1].startswith("-"):  # a name alone: every default
        ns = argparse.Namespace(**{**_defaults(), "name": words[1]})
    else:
        try:
            ns = _parser().parse_args(words[1:])
        except argparse.ArgumentError as exc:
            raise HeaderError("bad-option", str(exc)) from exc
    if ns.retries is not None and not 0 <= ns.retries <= 100:
        raise HeaderError("bad-option", f"--retries {ns.retries}: give a number from 0 to 100")
    timeout = None
    if ns.timeout is not None:
        try:
            timeout = parse_duration(ns.timeout)
        except ValueError as exc:
            raise HeaderError("bad-option", f"--timeout: {exc}") from exc
    if ns.version is not None and ns.workflow is None:
        raise HeaderError("bad-option", "--version pins a sub-workflow: give --workflow NAME too")
    if ns.version is not None and ns.version < 1:
        raise HeaderError("bad-option", f"--version {ns.version}: versions start at 1")
    if ns.workflow is not None and ns.action is not None:
        raise HeaderError("bad-option", "a step is either --workflow or --action, not both")
    if ns.workflow is not None and (ns.local or ns.untrusted):
        raise HeaderError(
            "bad-option", "a sub-workflow step (--workflow) cannot be --local or --untrusted"
        )
    if ns.action is not None and not re.match(r"^[a-z][a-z0-9_-]*\.[a-z][a-z0-9_.]*$", ns.action):
        raise HeaderError(
            "bad-option", f"--action {ns.action!r}: name it as connector.action, e.g. http.request"
        )
    logic, wait = _logic(ns)
    _check_queue(ns)
    if ns.concurrency is not None and ns.foreach is None:
        raise HeaderError("bad-option", "--concurrency bounds a --foreach step: give --foreach too")
    if ns.concurrency is not None and not 1 <= ns.concurrency <= 256:
        raise HeaderError("bad-option", f"--concurrency {ns.concurrency}: give 1 to 256")
    _check_chunk(ns)
    kind = "sub-workflow" if ns.workflow is not None else "action"
    if logic is not None:
        kind = logic
    if (ns.workflow or ns.action or logic not in (None, "set")) and not ns.name.isidentifier():
        raise HeaderError(
            "bad-option",
            f"{'an' if kind[0] in 'aeiu' else 'a'} {kind} step's name is the variable its result "
            f"goes to: {ns.name!r} is not "
            "a Python identifier",
        )
    if (ns.allow_network or ns.secret) and not ns.untrusted:
        raise HeaderError(
            "bad-option",
            "--allow-network and --secret open an --untrusted step's sandbox; a trusted step "
            "already has the network and flowat.secret(): drop them or add --untrusted",
        )
    after = tuple(a.strip() for a in ns.after.split(",") if a.strip())
    _check_tool(ns, kind if (ns.workflow or ns.action or logic) else None, after)
    return StepHeader(
        name=ns.name,
        after=after,
        retries=ns.retries,
        timeout_seconds=timeout,
        local=ns.local,
        untrusted=ns.untrusted,
        allow_network=ns.allow_network,
        secrets=tuple(dict.fromkeys(ns.secret)),
        workflow=ns.workflow,
        workflow_version=ns.version,
        action=ns.action,
        logic=logic,
        filter_items=ns.filter,
        wait_seconds=wait,
        signal=ns.wait_for,
        when=ns.when,
        merge=ns.merge,
        foreach=ns.foreach,
        concurrency=ns.concurrency,
        chunk=ns.chunk,
        map_in=_mappings("--in", ns.map_in),
        map_out=_mappings("--out", ns.map_out),
        queue=ns.queue,
        tool=ns.tool,
    )


def _check_chunk(ns: argparse.Namespace) -> None:
    """``--chunk N``: a ``--foreach`` code step's items, N to one activity and process."""
    if ns.chunk is None:
        return
    if ns.foreach is None:
        raise HeaderError(
            "bad-option", "--chunk groups the items of a --foreach step: give --foreach too"
        )
    if not 1 <= ns.chunk <= 10_000:
        raise HeaderError("bad-option", f"--chunk {ns.chunk}: give 1 to 10000 items per chunk")
    if ns.workflow is not None or ns.action is not None:
        raise HeaderError(
            "bad-option",
            "--chunk runs a code step's items in one step process; a sub-workflow or action "
            "step runs each item on its own: drop --chunk",
        )
    if ns.queue is not None:
        raise HeaderError(
            "bad-option",
            "--chunk runs the items on the workflow's own queue: drop --queue or --chunk",
        )


def _check_tool(ns: argparse.Namespace, kind: str | None, after: tuple[str, ...]) -> None:
    """``--tool``: a code step named as a Python function, run only when an agent calls it."""
    if not ns.tool:
        return
    misfits = [
        option
        for option, given in (
            (f"--{kind}" if kind else "", kind is not None),
            ("--foreach", ns.foreach is not None),
            ("--when", ns.when is not None),
            ("--after", bool(after)),
            ("--in", bool(ns.map_in)),
            ("--out", bool(ns.map_out)),
        )
        if given
    ]
    if misfits:
        raise HeaderError(
            "bad-option",
            f"--tool makes a step an agent's tool, a code step that runs when the model calls "
            f"it: {', '.join(misfits)} do not apply to it",
        )
    if not ns.name.isidentifier():
        raise HeaderError(
            "bad-option",
            f"a --tool step defines the function the model calls, named as the step: "
            f"{ns.name!r} is not a Python identifier",
        )
