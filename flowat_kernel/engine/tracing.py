"""Optional OpenTelemetry tracing of runs and steps, set by ``FLOWAT_TRACING``.

Off by default, and then nothing of OpenTelemetry is imported (this module is imported
only when tracing is on). Turned on, FlowAt's Temporal client carries Temporal's
``TracingInterceptor`` (:mod:`flowat_kernel.engine.tracing_spans`); every worker
FlowAt builds on that client inherits it, so one trace follows a run from the start
request through the graph workflow to each step's activity, across processes and hosts
(the context travels in Temporal headers). A run a schedule starts is one trace too,
rooted at the schedule's launcher starting it (Temporal starts the launcher, with no
client span to join).

| ``FLOWAT_TRACING`` | spans go to |
| --- | --- |
| ``off`` (default) | nowhere; OpenTelemetry is not imported |
| ``otlp`` | a collector over OTLP, as the ``OTEL_EXPORTER_OTLP_*`` variables say |
| ``console`` | standard error, one JSON document per span (trying it out) |
| ``global`` | the process's own tracer provider (see below); FlowAt adds no exporter |

With ``otlp``: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (default ``http://localhost:4318``; the
exporter appends ``/v1/traces``) or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (used as
given), ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_EXPORTER_OTLP_CERTIFICATE``, and
``OTEL_EXPORTER_OTLP_PROTOCOL`` (``http/protobuf``, the default, or ``grpc`` with
``opentelemetry-exporter-otlp-proto-grpc`` installed). For ``otlp`` and ``console``,
``OTEL_SERVICE_NAME`` (default ``flowat``), ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER`` and ``OTEL_BSP_*`` apply as in any OpenTelemetry SDK, and the
provider becomes the process's global one unless the process set one already (so spans
step code opens itself join the run's trace). ``OTEL_SDK_DISABLED=true`` turns tracing
off whatever ``FLOWAT_TRACING`` says.

``global`` is for a process that set up OpenTelemetry itself: run under
``opentelemetry-instrument``, or an application that embeds FlowAt and installed its
own provider and exporters.

The packages are an extra: ``pip install 'flowat[tracing]'``; without them, turning
tracing on fails with that command in the message.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from flowat_kernel.config import Settings
from flowat_kernel.errors import ConfigError

if TYPE_CHECKING:
    import opentelemetry.trace
    import temporalio.client

__all__ = ["INSTALL", "TRACER_NAME", "client_interceptors", "destination", "enabled", "tracer"]

#: What installs the packages tracing needs.
INSTALL = "pip install 'flowat[tracing]'"
#: The instrumentation scope of FlowAt's spans.
TRACER_NAME = "flowat"

_lock = threading.Lock()
_providers: dict[str, Any] = {}  # one provider per process and choice


def enabled(settings: Settings) -> bool:
    """Whether runs are traced: ``FLOWAT_TRACING`` on, and OpenTelemetry not disabled."""
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    return settings.tracing != "off" and not disabled


def destination(settings: Settings) -> str:
    """Where this process's spans go, for people (``flowat worker`` prints it at start)."""
    if not enabled(settings):
        why = "OTEL_SDK_DISABLED=true" if settings.tracing != "off" else "FLOWAT_TRACING=off"
        return f"off ({why})"
    if settings.tracing == "console":
        return "on: spans to standard error (FLOWAT_TRACING=console)"
    if settings.tracing == "global":
        return "on: spans to this process's own tracer provider (FLOWAT_TRACING=global)"
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or (
        (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://localhost:4318").rstrip("/")
        + "/v1/traces"
    )
    return f"on: spans over OTLP to {endpoint} (FLOWAT_TRACING=otlp)"


def _missing(choice: str, exc: ImportError) -> ConfigError | ImportError:
    name = exc.name or ""
    if not name.startswith(("opentelemetry", "temporalio.contrib.opentelemetry")):
        return exc  # not a missing optional package: a real error, raised as it is
    return ConfigError(
        f"FLOWAT_TRACING={choice} needs OpenTelemetry (cannot import {name}): "
        f"{INSTALL}, or set FLOWAT_TRACING=off"
    )


def tracer(choice: str) -> opentelemetry.trace.Tracer:
    """The tracer FlowAt's spans are made with for ``choice`` (``otlp``, ``console``, ``global``).

    ``otlp`` and ``console`` build their provider once per process.

    Raises:
        ConfigError: a package is missing (the message says what to install), or the
            OTLP settings cannot be used.

    """
    try:
        import opentelemetry.trace as trace_api
    except ImportError as exc:
        raise _missing(choice, exc) from None
    if choice == "global":
        return trace_api.get_tracer(TRACER_NAME)  # follows a provider set later, too
    with _lock:
        provider = _providers.get(choice)
        if provider is None:
            try:
                from flowat_kernel.engine.tracing_export import build_provider
            except ImportError as exc:
                raise _missing(choice, exc) from None
            provider = _providers[choice] = build_provider(choice)
            if isinstance(trace_api.get_tracer_provider(), trace_api.ProxyTracerProvider):
                trace_api.set_tracer_provider(provider)
    chosen: opentelemetry.trace.Tracer = provider.get_tracer(TRACER_NAME)
    return chosen


def client_interceptors(settings: Settings) -> list[temporalio.client.Interceptor]:
    """The Temporal client interceptors that trace runs, or none when tracing is off.

    Raises:
        ConfigError: tracing is on but cannot work (see :func:`tracer`).

    """
    if not enabled(settings):
        return []
    chosen = tracer(settings.tracing)
    try:
        from flowat_kernel.engine.tracing_spans import interceptors
    except ImportError as exc:
        raise _missing(settings.tracing, exc) from None
    return interceptors(chosen)
