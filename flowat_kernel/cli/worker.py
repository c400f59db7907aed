"""``flowat worker``: poll task queues until interrupted, with its options.

``--queue A,B`` names the task queues this worker polls (default: the shared queue,
``FLOWAT_TASK_QUEUE``); a step published with ``--queue A`` runs only on workers
polling ``A``. ``--name`` is the worker's identity in Temporal's poller list and in
FlowAt's registry, and is given to step code as ``FLOWAT_WORKER_NAME``.
``--metrics-port`` serves Prometheus metrics (see
:mod:`flowat_kernel.engine.metrics`).
"""

from __future__ import annotations

import argparse
import os
import sys

from flowat_kernel.cli.lifecycle import stop_event, wait_until
from flowat_kernel.errors import ConfigError, SpecError

__all__ = ["run_worker", "worker_queues"]


def worker_queues(raw: str | None, shared: str) -> list[str]:
    """The queues ``--queue`` names (comma-separated), or the shared one.

    Raises:
        ConfigError: a name is not a valid task queue name.

    """
    from flowat_kernel.spec.model import queue_name

    if raw is None:
        return [shared]
    names = [part.strip() for part in raw.split(",") if part.strip()]
    if not names:
        raise ConfigError("--queue: name at least one task queue, e.g. --queue gpu")
    try:
        return list(dict.fromkeys(queue_name(name) for name in names))
    except SpecError as exc:
        raise ConfigError(str(exc)) from None


def _positive(value: int | None, option: str) -> None:
    if value is not None and not 1 <= value <= 4096:
        raise ConfigError(f"{option} {value}: give a number from 1 to 4096")


def run_worker(args: argparse.Namespace) -> int:
    """Poll the chosen queues (and, on the shared queue, launch schedules) until stopped."""
    from flowat_kernel.config import settings as read_settings
    from flowat_kernel.engine.worker import WorkerOptions
    from flowat_kernel.runtime import get_runtime

    settings = read_settings()
    queues = worker_queues(getattr(args, "queue", None), settings.task_queue)
    steps = getattr(args, "max_concurrent_steps", None)
    local = getattr(args, "max_concurrent_local", None)
    _positive(steps, "--max-concurrent-steps")
    _positive(local, "--max-concurrent-local")
    port = getattr(args, "metrics_port", None)
    if port is not None and not 0 <= port <= 65535:
        raise ConfigError(f"--metrics-port {port}: give a port from 0 to 65535")
    name = getattr(args, "name", None)
    if name is not None:
        if not name.strip() or len(name) > 200:
            raise ConfigError("--name: give a non-empty name of at most 200 characters")
        os.environ["FLOWAT_WORKER_NAME"] = name  # what step code sees of its worker
    stop = stop_event()
    runtime = get_runtime()
    interceptors = []
    served = None
    if port is not None:
        from flowat_kernel.engine.metrics import StepMetrics, serve_metrics

        host = getattr(args, "metrics_host", None) or "127.0.0.1"
        served = serve_metrics(port, host, store=runtime.store)
        interceptors.append(StepMetrics(served.metrics))
    options = WorkerOptions(
        max_concurrent_steps=steps or 32,
        max_concurrent_local=local,
        name=name,
        interceptors=tuple(interceptors),
    )
    polling = runtime.call(runtime.ensure_workers(queues, options))
    launcher = ""
    door = None
    if settings.task_queue in polling:
        from flowat_kernel.triggers.worker import ensure_trigger_worker

        ensure_trigger_worker(runtime)  # scheduled firings start their runs here too
        launcher = " and its schedule launcher"
        from flowat_kernel.cli.handoff_door import open_door

        door = open_door(runtime, settings)  # `flowat run --worker shared` hands runs here
    lines = [
        f"FlowAt worker{f' {name!r}' if name else ''} polling task queue(s) "
        f"{', '.join(repr(q) for q in polling)}{launcher} "
        f"(namespace {settings.temporal_namespace}); Ctrl-C stops it"
    ]
    if served is not None:
        lines.append(f"Metrics: http://{served.address}/metrics")
    if settings.tracing != "off":  # off: nothing of tracing is imported, nothing to say
        from flowat_kernel.engine.tracing import destination

        lines.append(f"Tracing: {destination(settings)}")
    sys.stderr.write("".join(f"{line}\n" for line in lines))
    sys.stderr.flush()
    wait_until(stop)
    sys.stderr.write("stopping worker (running steps finish first)\n")
    if door is not None:
        door.close()
    runtime.close()
    if served is not None:
        served.close()
    return 0
