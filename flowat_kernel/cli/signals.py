"""``flowat signal RUN NAME``: deliver a signal (an approval, say) to a waiting run."""

from __future__ import annotations

import argparse
import json

from flowat_kernel import api
from flowat_kernel.cli.output import print_json
from flowat_kernel.errors import FlowAtError
from flowat_kernel.params import parse_assignments

__all__ = ["add_signal_parser", "signal_payload"]


def signal_payload(data: str | None, params: list[str]) -> object:
    """The payload from ``--data JSON`` or ``-p key=value`` pairs (values read as JSON).

    Raises:
        FlowAtError: both given, or ``--data`` is not JSON.

    """
    if data is not None and params:
        raise FlowAtError("give the payload either as --data JSON or as -p key=value, not both")
    if data is not None:
        try:
            return json.loads(data)
        except ValueError as exc:
            raise FlowAtError(
                f"--data is not JSON ({exc}); e.g. --data '{{\"ok\": true}}'"
            ) from None
    if not params:
        return None
    payload: dict[str, object] = {}
    for key, text in parse_assignments(params).items():
        try:
            payload[key] = json.loads(text)
        except ValueError:
            payload[key] = text
    return payload


def _signal(args: argparse.Namespace) -> int:
    payload = signal_payload(args.data, args.param or [])
    run = api.signal(args.run_id, args.name, payload)
    if args.json:
        print_json({"run_id": run.run_id, "signal": args.name, "status": run.status})
    else:
        print(f"run {run.run_id}: signal {args.name!r} sent ({run.status})")
    return 0


def add_signal_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``flowat signal`` to the top-level parser."""
    help = "send a signal to a run: a --wait-for step waiting for it takes the payload"
    p = sub.add_parser("signal", help=help, description=help)
    p.add_argument("run_id")
    p.add_argument("name", help="the signal's name, as given to --wait-for")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE", help="payload field")
    p.add_argument("--data", metavar="JSON", help="the whole payload as JSON")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=_signal)
