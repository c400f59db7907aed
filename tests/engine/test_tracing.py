"""OpenTelemetry tracing of runs and steps (``FLOWAT_TRACING``) on the real Temporal server.

Spans are collected by the OpenTelemetry SDK's own in-memory exporter, installed as the
process's tracer provider (``FLOWAT_TRACING=global``: FlowAt traces into the provider
the process set up). Nothing of Temporal or FlowAt is replaced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

import flowat_kernel as flowat
from flowat_kernel.engine.tracing_export import MaskingExporter
from flowat_kernel.engine.workflow import WORKFLOW_NAME
from flowat_kernel.runtime import get_runtime, reset_runtime
from flowat_kernel.testing import cells
from flowat_kernel.vault.redaction import register


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    """The SDK's in-memory exporter on the process's tracer provider."""
    memory = InMemorySpanExporter()
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):  # set up earlier in this process
        current.add_span_processor(SimpleSpanProcessor(memory))
    else:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(memory))
        trace.set_tracer_provider(provider)
    return memory


@pytest.fixture
def traced(
    temporal: str, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InMemorySpanExporter]:
    """Tracing on (into the process's provider) for a runtime built for this test."""
    monkeypatch.setenv("FLOWAT_TRACING", "global")
    reset_runtime()
    exporter.clear()
    yield exporter
    reset_runtime()


def _texts(span: ReadableSpan) -> str:
    """Everything a span carries as text: name, attributes, events, status."""
    parts = [span.name, json.dumps(dict(span.attributes or {}), default=str)]
    for event in span.events:
        parts += [event.name, json.dumps(dict(event.attributes or {}), default=str)]
    parts.append(span.status.description or "")
    return "\n".join(parts)


def _of_run(spans: tuple[ReadableSpan, ...], run_id: str) -> list[ReadableSpan]:
    return [s for s in spans if (s.attributes or {}).get("flowat.run_id") == run_id]


def _secret(prefix: str) -> tuple[str, str]:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    value = f"{prefix}-canary-{uuid.uuid4().hex}"
    flowat.set_secret(name, value)
    return name, value


def test_a_run_and_its_steps_are_spans_of_one_trace(
    traced: InMemorySpanExporter, workflow_name: str
) -> None:
    name, value = _secret("trace")
    flowat.publish(
        workflow_name,
        cells=cells(
            f"%%flowat step fetch\ntoken = flowat.secret({name!r}).reveal()\n"
            "print('calling with', token)\nsize = len(token)",
            "%%flowat step report\nreport = size * 2",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    spans = traced.get_finished_spans()
    ours = _of_run(spans, run.run_id)

    start = [s for s in ours if s.name == f"StartWorkflow:{WORKFLOW_NAME}"]
    assert len(start) == 1 and start[0].kind is SpanKind.CLIENT
    workflow_spans = [s for s in ours if s.name == f"RunWorkflow:{WORKFLOW_NAME}"]
    assert len(workflow_spans) == 1
    run_span = workflow_spans[0]
    assert run_span.attributes is not None
    assert run_span.attributes["flowat.workflow"] == workflow_name
    assert run_span.attributes["flowat.version"] == 1
    assert run.run_id in str(run_span.attributes["temporalWorkflowID"])

    steps = {
        str((s.attributes or {}).get("flowat.step")): s
        for s in ours
        if s.name == "RunActivity:flowat.run_step"
    }
    assert sorted(steps) == ["fetch", "report"]
    owner = get_runtime().settings.owner
    for step in steps.values():
        assert step.attributes is not None
        assert step.attributes["flowat.workflow"] == workflow_name
        assert step.attributes["flowat.version"] == 1
        assert step.attributes["flowat.organization"] == owner
        assert step.kind is SpanKind.SERVER
        assert step.status.status_code is not StatusCode.ERROR

    # One trace: the start request is its root, the workflow and each step hang below.
    trace_ids = {s.context.trace_id for s in ours if s.context is not None}
    assert len(trace_ids) == 1
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    assert start[0].parent is None
    assert run_span.parent is not None and run_span.parent.span_id == start[0].context.span_id
    for step in steps.values():
        assert step.parent is not None
        scheduled = by_id[step.parent.span_id]  # the workflow's StartActivity span
        assert scheduled.name == "StartActivity:flowat.run_step"
        assert (scheduled.attributes or {}).get("flowat.run_id") == run.run_id
    assert steps["fetch"].end_time is not None and steps["report"].start_time is not None
    assert steps["fetch"].end_time <= steps["report"].start_time  # report reads fetch's size

    leaked = [s.name for s in spans if value in _texts(s)]
    assert leaked == [], f"the secret value is in spans {leaked}"


def test_a_scheduled_run_is_one_trace_rooted_at_its_launcher(
    traced: InMemorySpanExporter, workflow_name: str
) -> None:
    """Temporal starts a schedule's launcher with no client span: it still roots the run's trace."""
    import time

    from flowat_kernel.api import default_workspace
    from flowat_kernel.triggers.worker import ensure_trigger_worker, stop_trigger_worker

    flowat.publish(workflow_name, cells=cells("%%flowat step one\nout = 1"))
    runtime = get_runtime()
    runtime.call(runtime.ensure_worker())  # the shared queue, where scheduled runs go
    ensure_trigger_worker(runtime)
    workspace = default_workspace()
    schedule = workspace.add_schedule(workflow_name, every="1h", paused=True)
    try:
        workspace.schedule_action(schedule.id, "trigger")  # fires now, inside Temporal
        deadline = time.monotonic() + 60
        while True:
            done = [r for r in flowat.runs(workflow_name) if r.status == "succeeded"]
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert done, "the triggered schedule started no run within 60 s"
        run_id = done[0].run_id
        assert done[0].trigger == "schedule"
        step_span = None
        while step_span is None and time.monotonic() < deadline:
            step_span = next(
                (
                    s
                    for s in _of_run(traced.get_finished_spans(), run_id)
                    if s.name == "RunActivity:flowat.run_step"
                ),
                None,
            )
            time.sleep(0.1)
        assert step_span is not None and step_span.context is not None
    finally:
        workspace.schedule_action(schedule.id, "delete")
        stop_trigger_worker(runtime)
    spans = traced.get_finished_spans()
    trace_id = step_span.context.trace_id
    in_trace = [s for s in spans if s.context is not None and s.context.trace_id == trace_id]
    names = {s.name for s in in_trace}
    assert f"RunWorkflow:{WORKFLOW_NAME}" in names, names
    # Its root: the launcher workflow starting the run (Temporal started the launcher).
    roots = [s for s in in_trace if s.parent is None]
    assert [r.name for r in roots] == [f"StartChildWorkflow:{WORKFLOW_NAME}"], sorted(names)
    # Every span of the run is in that one trace.
    assert {s.context.trace_id for s in _of_run(spans, run_id) if s.context} == {trace_id}


def test_a_failing_step_is_an_error_span_without_the_secret_it_raised(
    traced: InMemorySpanExporter, workflow_name: str
) -> None:
    name, value = _secret("raise")
    flowat.publish(
        workflow_name,
        cells=cells(
            f"%%flowat step call --retries 0\ntoken = flowat.secret({name!r}).reveal()\n"
            "raise ValueError('the service rejected ' + token)",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "failed"
    spans = traced.get_finished_spans()
    (failed,) = [s for s in _of_run(spans, run.run_id) if s.name == "RunActivity:flowat.run_step"]
    assert failed.status.status_code is StatusCode.ERROR
    assert f"[secret:{name}]" in _texts(failed)  # the masked message is recorded
    assert [e.name for e in failed.events] == ["exception"]
    leaked = [s.name for s in spans if value in _texts(s)]
    assert leaked == [], f"the secret value is in spans {leaked}"


def test_exporters_flowat_builds_mask_revealed_values() -> None:
    name, value = "exported_token", f"export-canary-{uuid.uuid4().hex}"
    register(name, value)
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(MaskingExporter(memory)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span(f"call {value}", attributes={"a": f"x {value}"}) as span:
        span.set_attribute("many", [value, "plain"])
        span.set_attribute("count", 3)
        span.add_event("answer", {"body": f"token={value}"})
        span.set_status(Status(StatusCode.ERROR, f"refused {value}"))
    with tracer.start_as_current_span("clean", attributes={"a": "nothing"}):
        pass
    masked, clean = memory.get_finished_spans()
    assert value not in _texts(masked)
    assert masked.name == f"call [secret:{name}]"
    assert masked.attributes == {
        "a": f"x [secret:{name}]",
        "many": (f"[secret:{name}]", "plain"),
        "count": 3,
    }
    assert masked.status.description == f"refused [secret:{name}]"
    assert masked.events[0].attributes == {"body": f"token=[secret:{name}]"}
    assert clean.attributes == {"a": "nothing"}
    provider.shutdown()


_RUN_UNTRACED = textwrap.dedent(
    """
    import json, sys
    import flowat_kernel as flowat
    from flowat_kernel.testing import cells
    steps = cells("%%flowat step one\\nx = 1", "%%flowat step two\\ny = x + 1")
    flowat.publish(sys.argv[1], cells=steps)
    run = flowat.run(sys.argv[1])
    loaded = sorted(m for m in sys.modules if "opentelemetry" in m)
    print(json.dumps({"status": run.status, "loaded": loaded}))
    """
)


def test_with_tracing_off_a_run_imports_nothing_of_opentelemetry(
    temporal: str, flowat_home: Path, workflow_name: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FLOWAT_TRACING"}
    env.update(FLOWAT_HOME=str(flowat_home), FLOWAT_TASK_QUEUE=temporal)
    done = subprocess.run(
        [sys.executable, "-c", _RUN_UNTRACED, workflow_name],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"status": "succeeded", "loaded": []}


_WITHOUT_OPENTELEMETRY = textwrap.dedent(
    """
    import sys
    sys.modules["opentelemetry"] = None  # as if the extra were not installed
    from flowat_kernel.config import settings
    from flowat_kernel.engine.tracing import client_interceptors
    from flowat_kernel.errors import ConfigError
    try:
        client_interceptors(settings())
    except ConfigError as exc:
        print(exc)
    """
)


@pytest.mark.parametrize("choice", ["otlp", "console", "global"])
def test_tracing_without_the_packages_says_what_to_install(choice: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_OPENTELEMETRY],
        capture_output=True,
        text=True,
        env={**os.environ, "FLOWAT_HOME": str(tmp_path), "FLOWAT_TRACING": choice},
        timeout=60,
        check=True,
    )
    message = done.stdout.strip()
    assert message.startswith(f"FLOWAT_TRACING={choice} needs OpenTelemetry (cannot import "), (
        message,
        done.stderr[-2000:],
    )
    assert message.endswith("): pip install 'flowat[tracing]', or set FLOWAT_TRACING=off")


class _Collector(ThreadingHTTPServer):
    """A loopback OTLP/HTTP receiver: keeps every span of every export request."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receive)
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []


class _Receive(BaseHTTPRequestHandler):
    server: _Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.server.requests.append(request)
        self.server.paths.append(self.path)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[_Collector]:
    server = _Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _value(attribute: Any) -> object:
    kind = attribute.value.WhichOneof("value")
    return getattr(attribute.value, kind) if kind else None


def test_flowat_run_exports_its_spans_to_an_otlp_collector(
    temporal: str, flowat_home: Path, workflow_name: str, collector: _Collector
) -> None:
    name, value = _secret("otlp")
    flowat.publish(
        workflow_name,
        cells=cells(
            f"%%flowat step fetch\ntoken = flowat.secret({name!r}).reveal()\nsize = len(token)",
            "%%flowat step report\nreport = size * 2",
        ),
    )
    env = {
        **os.environ,
        "FLOWAT_HOME": str(flowat_home),
        "FLOWAT_TASK_QUEUE": temporal,
        "FLOWAT_TRACING": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_address[1]}",
        "OTEL_SERVICE_NAME": "flowat-tests",
    }
    done = subprocess.run(
        [sys.executable, "-m", "flowat_kernel.cli.main", "run", workflow_name, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = json.loads(done.stdout)["run_id"]
    # The CLI flushed its spans before it exited: they are all here now.
    assert collector.paths and set(collector.paths) == {"/v1/traces"}
    spans: dict[str, list[dict[str, object]]] = {}
    services = set()
    raw = b""
    for request in collector.requests:
        raw += request.SerializeToString()
        for resource in request.resource_spans:
            services |= {_value(a) for a in resource.resource.attributes if a.key == "service.name"}
            for scope in resource.scope_spans:
                for span in scope.spans:
                    attributes = {a.key: _value(a) for a in span.attributes}
                    if attributes.get("flowat.run_id") == run_id:
                        spans.setdefault(span.name, []).append(attributes)
    assert services == {"flowat-tests"}
    assert len(spans[f"StartWorkflow:{WORKFLOW_NAME}"]) == 1
    assert len(spans[f"RunWorkflow:{WORKFLOW_NAME}"]) == 1
    steps = sorted(str(a["flowat.step"]) for a in spans["RunActivity:flowat.run_step"])
    assert steps == ["fetch", "report"]
    assert value.encode() not in raw


@pytest.mark.parametrize(
    ("variables", "said"),
    [
        (
            {"FLOWAT_TRACING": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4999/"},
            "Tracing: on: spans over OTLP to http://127.0.0.1:4999/v1/traces",
        ),
        ({"FLOWAT_TRACING": "console"}, "Tracing: on: spans to standard error"),
        (
            {"FLOWAT_TRACING": "otlp", "OTEL_SDK_DISABLED": "true"},
            "Tracing: off (OTEL_SDK_DISABLED",
        ),
        ({"FLOWAT_TRACING": "off"}, None),
    ],
)
def test_flowat_worker_says_where_its_spans_go(
    temporal: str, flowat_home: Path, variables: dict[str, str], said: str | None
) -> None:
    env = {**os.environ, "FLOWAT_HOME": str(flowat_home), "FLOWAT_TASK_QUEUE": temporal}
    env.pop("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None)
    worker = subprocess.Popen(
        [sys.executable, "-m", "flowat_kernel.cli.main", "worker"],
        env={**env, **variables},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    try:
        assert worker.stderr is not None
        for line in worker.stderr:  # every line until it exits: Ctrl-C once it polls
            lines.append(line.rstrip("\n"))
            if "polling task queue" in line:
                worker.send_signal(2)
        worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    tracing = [line for line in lines if line.startswith("Tracing:")]
    assert any("polling task queue" in line for line in lines), lines
    if said is None:
        assert tracing == [], "with tracing off the worker says nothing of it"
    else:
        assert len(tracing) == 1 and tracing[0].startswith(said), lines
