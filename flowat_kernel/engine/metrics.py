"""Prometheus metrics of a worker process (``flowat worker --metrics-port P``).

One endpoint, ``http://HOST:P/metrics``, serves two sets in the text format:

- Temporal's SDK metrics (``temporal_*``: poll and schedule-to-start latencies, slots
  in use, task counts, ...), from the SDK's own Prometheus exporter, which
  :func:`serve_metrics` binds to a private loopback port and this endpoint relays;
- FlowAt's own (``flowat_*``), through ``prometheus_client``: steps started, succeeded
  and failed by kind and task queue, step duration histograms, artifact bytes written,
  and, read from the metadata store at each scrape, circuit breakers by state and the
  dead-letter queue's depth.

Step figures come from :class:`StepMetrics`, a Temporal activity interceptor around
``flowat.run_step``: it sees every step attempt of the worker without the step
activities knowing about metrics.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from flowat_kernel.engine.messages import StepOutcome, StepTask
from flowat_kernel.engine.values import Value
from flowat_kernel.errors import ConfigError, FlowAtError, StoreError
from flowat_kernel.store import Store

__all__ = ["MetricsServer", "StepMetrics", "WorkerMetrics", "serve_metrics"]

log = logging.getLogger(__name__)

#: Step duration buckets, in seconds: from a quick ``--local`` step to an hour's job.
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
BREAKER_STATES = ("closed", "open", "half_open")


class _StoreGauges(Collector):
    """Breaker states and the dead-letter depth, read from the store at each scrape."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterable[GaugeMetricFamily]:
        from flowat_kernel.store.gauges import breaker_states, dead_letter_depth

        depth = GaugeMetricFamily(
            "flowat_dead_letters", "Dead letters parked, waiting for a retry or a discard"
        )
        breakers = GaugeMetricFamily(
            "flowat_breakers",
            "Circuit breakers by state (connector and target host counted once each)",
            labels=["state"],
        )
        try:
            depth.add_metric([], dead_letter_depth(self.store))
            counts = dict.fromkeys(BREAKER_STATES, 0)
            for _, _, state in breaker_states(self.store):
                counts[state] = counts.get(state, 0) + 1
            for state, count in sorted(counts.items()):
                breakers.add_metric([state], count)
        except StoreError as exc:  # the store is down: the scrape still answers
            log.warning("store figures left out of the metrics: %s", exc)
            return
        yield depth
        yield breakers


@dataclass
class WorkerMetrics:
    """FlowAt's own metrics of one worker process, in their own registry."""

    registry: CollectorRegistry
    started: Counter
    succeeded: Counter
    failed: Counter
    duration: Histogram
    artifact_bytes: Counter

    @classmethod
    def create(cls, store: Store | None = None) -> WorkerMetrics:
        """A fresh registry; with ``store``, breaker and dead-letter gauges too."""
        registry = CollectorRegistry(auto_describe=True)
        labels = ["kind", "queue"]
        made = cls(
            registry=registry,
            started=Counter(
                "flowat_steps_started", "Step attempts started", labels, registry=registry
            ),
            succeeded=Counter(
                "flowat_steps_succeeded", "Step attempts succeeded", labels, registry=registry
            ),
            failed=Counter(
                "flowat_steps_failed",
                "Step attempts failed (final: no retry follows)",
                [*labels, "final"],
                registry=registry,
            ),
            duration=Histogram(
                "flowat_step_duration_seconds",
                "Wall time of step attempts",
                labels,
                buckets=DURATION_BUCKETS,
                registry=registry,
            ),
            artifact_bytes=Counter(
                "flowat_artifact_bytes_written",
                "Bytes of artifacts (exports stored outside Temporal's history) written",
                ["queue"],
                registry=registry,
            ),
        )
        if store is not None:
            registry.register(_StoreGauges(store))
        return made

    def text(self) -> bytes:
        """The registry in Prometheus' text format."""
        return bytes(generate_latest(self.registry))


def _value_bytes(value: Value) -> int:
    total = value.ref.size_bytes if value.ref is not None else 0
    for item in value.items or ():
        total += _value_bytes(item)
    for values in (value.outputs or {}).values():
        total += sum(_value_bytes(v) for v in values.values())
    return total


def _artifact_bytes(outcome: Any) -> int:
    """Bytes of the artifacts a step's exports refer to (the step just wrote them)."""
    if not isinstance(outcome, StepOutcome):
        return 0
    return sum(_value_bytes(value) for value in outcome.exports.values())


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, metrics: WorkerMetrics) -> None:
        super().__init__(next)
        self.metrics = metrics

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        task = input.args[0] if input.args else None
        if info.activity_type != "flowat.run_step" or not isinstance(task, StepTask):
            return await super().execute_activity(input)
        labels = {"kind": task.step.kind, "queue": info.task_queue}
        self.metrics.started.labels(**labels).inc()
        began = time.monotonic()
        try:
            outcome = await super().execute_activity(input)
        except BaseException as exc:
            policy = info.retry_policy
            most = policy.maximum_attempts if policy is not None else 0
            final = (isinstance(exc, ApplicationError) and exc.non_retryable) or (
                most > 0 and info.attempt >= most
            )
            self.metrics.failed.labels(**labels, final="true" if final else "false").inc()
            raise
        finally:
            self.metrics.duration.labels(**labels).observe(time.monotonic() - began)
        self.metrics.succeeded.labels(**labels).inc()
        written = _artifact_bytes(outcome)
        if written:
            self.metrics.artifact_bytes.labels(queue=info.task_queue).inc(written)
        return outcome


class StepMetrics(Interceptor):
    """A worker interceptor counting and timing ``flowat.run_step`` attempts."""

    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics = metrics

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Wrap the activity chain."""
        return _Inbound(next, self.metrics)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class MetricsServer:
    """The ``/metrics`` endpoint: FlowAt's registry plus the relayed SDK metrics."""

    def __init__(self, metrics: WorkerMetrics, host: str, port: int, sdk_url: str | None) -> None:
        self.metrics = metrics
        self.sdk_url = sdk_url
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] not in ("/metrics", "/"):
                    self.send_error(404, "metrics are at /metrics")
                    return
                body = server.body()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        try:
            self.httpd = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise ConfigError(
                f"--metrics-port {port}: cannot listen on {host}:{port} ({exc.strerror}); "
                "choose another port"
            ) from None
        self.httpd.daemon_threads = True
        self.address = f"{host}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="flowat-metrics", daemon=True
        )
        self._thread.start()

    def body(self) -> bytes:
        """What a scrape gets: FlowAt's metrics, then Temporal's."""
        own = self.metrics.text()
        if self.sdk_url is None:
            return own
        try:
            with urllib.request.urlopen(self.sdk_url, timeout=5) as response:
                sdk = bytes(response.read())
        except OSError as exc:
            log.warning("Temporal SDK metrics not relayed: %s", exc)
            return own
        return own + b"\n" + sdk

    def close(self) -> None:
        """Stop listening."""
        self.httpd.shutdown()
        self.httpd.server_close()


def serve_metrics(port: int, host: str = "127.0.0.1", store: Store | None = None) -> MetricsServer:
    """Serve a worker's metrics on ``host:port``; call before the Temporal client connects.

    Sets the process's default Temporal runtime to one exporting the SDK's metrics on
    a private loopback port (every client and worker created afterwards reports
    there), and starts the endpoint that serves them with FlowAt's.

    Raises:
        FlowAtError: the port is taken or a Temporal client was already created.

    """
    sdk_port = _free_port("127.0.0.1")
    runtime = Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=f"127.0.0.1:{sdk_port}",
                counters_total_suffix=True,
                durations_as_seconds=True,
            )
        )
    )
    try:
        Runtime.set_default(runtime, error_if_already_set=True)
    except RuntimeError:
        raise FlowAtError(
            "metrics must be set up before FlowAt connects to Temporal in this process"
        ) from None
    metrics = WorkerMetrics.create(store)
    return MetricsServer(metrics, host, port, f"http://127.0.0.1:{sdk_port}/metrics")
