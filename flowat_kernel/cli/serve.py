"""``flowat serve``: the REST API and webhooks, headless; and the API of ``flowat dev``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["cmd_serve", "start_dev_api"]


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM."""
    import logging

    from flowat_kernel.cli.lifecycle import stop_event, wait_until
    from flowat_kernel.cli.output import print_json
    from flowat_kernel.runtime import get_runtime
    from flowat_kernel.server.serve import ApiServer, start_triggers
    from flowat_kernel.triggers.worker import stop_trigger_worker

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    stop = stop_event()
    try:
        server = ApiServer(args.host, args.port).start()
    except OSError as exc:
        print(f"flowat: error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    problem = start_triggers()
    if args.json:
        print_json({"url": server.url, "openapi": f"{server.url}/openapi.json"})
        sys.stdout.flush()
    sys.stderr.write(
        f"FlowAt API listening on {server.url} (OpenAPI at {server.url}/openapi.json)\n"
        + (f"schedules will not fire from here: {problem}\n" if problem else "")
        + "Ctrl-C stops it.\n"
    )
    sys.stderr.flush()
    wait_until(stop)
    server.stop()
    stop_trigger_worker(get_runtime())
    return 0


def start_dev_api() -> Any:
    """For ``flowat dev``: the API on 127.0.0.1:8765 (another free port if taken)."""
    from flowat_kernel.server.serve import DEFAULT_PORT, ApiServer, start_triggers

    try:
        server = ApiServer("127.0.0.1", DEFAULT_PORT).start()
    except OSError:
        server = ApiServer("127.0.0.1", 0).start()
    problem = start_triggers()
    sys.stderr.write(
        f"REST API:            {server.url} (OpenAPI at {server.url}/openapi.json)\n"
        + (f"schedules will not fire from here: {problem}\n" if problem else "")
    )
    return _DevApi(server)


class _DevApi:
    """The API of ``flowat dev``: stopping it also stops the schedule launcher."""

    def __init__(self, server: Any) -> None:
        self.server = server

    def stop(self) -> None:
        from flowat_kernel.runtime import get_runtime
        from flowat_kernel.triggers.worker import stop_trigger_worker

        self.server.stop()
        stop_trigger_worker(get_runtime())
