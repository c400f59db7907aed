"""The tracer provider FlowAt sets up for ``FLOWAT_TRACING=otlp`` or ``console``.

Imported only when tracing is on (see :mod:`flowat_kernel.engine.tracing`); needs
``opentelemetry-sdk`` (and, for ``otlp``, an OTLP exporter package).

Every exporter FlowAt builds is wrapped in :class:`MaskingExporter`: secret values
revealed in this process (:mod:`flowat_kernel.vault.redaction`) are masked in span
names, attributes, event attributes and status messages before a span leaves it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Status

from flowat_kernel.errors import ConfigError
from flowat_kernel.vault.redaction import redact_text

__all__ = ["DEFAULT_SERVICE_NAME", "MaskingExporter", "build_provider", "masked_span"]

#: ``service.name`` of FlowAt's spans unless ``OTEL_SERVICE_NAME`` (or the resource
#: attributes) say otherwise.
DEFAULT_SERVICE_NAME = "flowat"


def _masked_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, tuple | list) and any(isinstance(item, str) for item in value):
        return tuple(redact_text(item) if isinstance(item, str) else item for item in value)
    return value


def _masked(attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if attributes is None:
        return None
    return {key: _masked_value(value) for key, value in attributes.items()}


def masked_span(span: ReadableSpan) -> ReadableSpan:
    """``span`` with every revealed secret value masked (itself when nothing is)."""
    name = redact_text(span.name)
    attributes = _masked(span.attributes)
    events = [
        Event(event.name, _masked(event.attributes), event.timestamp) for event in span.events
    ]
    status = span.status
    if status.description:
        status = Status(status.status_code, redact_text(status.description))
    unchanged = (
        name == span.name
        and attributes == (dict(span.attributes) if span.attributes is not None else None)
        and all(
            new.attributes == (dict(old.attributes) if old.attributes is not None else None)
            for new, old in zip(events, span.events, strict=True)
        )
        and status.description == span.status.description
    )
    if unchanged:
        return span
    return ReadableSpan(
        name=name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class MaskingExporter(SpanExporter):
    """Exports through ``inner`` after :func:`masked_span` on every span."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Mask, then export."""
        return self._inner.export([masked_span(span) for span in spans])

    def shutdown(self) -> None:
        """Shut the inner exporter down."""
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the inner exporter."""
        return self._inner.force_flush(timeout_millis)


def _otlp_exporter() -> SpanExporter:
    """The OTLP exporter ``OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`` names (HTTP by default).

    The exporter reads its endpoint, headers, certificates, compression and timeout from
    the standard ``OTEL_EXPORTER_OTLP_*`` variables itself.
    """
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )
        except ImportError:
            raise ConfigError(
                "FLOWAT_TRACING=otlp with OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs the gRPC "
                "exporter: pip install opentelemetry-exporter-otlp-proto-grpc"
            ) from None
        grpc: SpanExporter = GrpcExporter()
        return grpc
    if protocol != "http/protobuf":
        raise ConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: FlowAt exports traces over "
            "http/protobuf (the default) or grpc"
        )
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise ConfigError(
            "FLOWAT_TRACING=otlp needs the OTLP exporter: pip install 'flowat[tracing]' "
            "(or opentelemetry-exporter-otlp-proto-http)"
        ) from None
    return OTLPSpanExporter()


def _resource() -> Resource:
    """The standard resource (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``).

    Named ``flowat`` when neither names the service.
    """
    resource = Resource.create()
    named = str(resource.attributes.get(SERVICE_NAME, ""))
    if not named or named.startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return resource


def build_provider(choice: str) -> TracerProvider:
    """A tracer provider exporting to OTLP (``otlp``) or standard error (``console``).

    The sampler comes from ``OTEL_TRACES_SAMPLER`` (and ``_ARG``), the batch sizes from
    ``OTEL_BSP_*``, as the SDK reads them; the provider flushes at interpreter exit.

    Raises:
        ConfigError: the exporter's package is missing, or its protocol is unsupported.

    """
    if choice == "console":
        processor: SimpleSpanProcessor | BatchSpanProcessor = SimpleSpanProcessor(
            MaskingExporter(ConsoleSpanExporter(out=sys.stderr))
        )
    else:
        processor = BatchSpanProcessor(MaskingExporter(_otlp_exporter()))
    provider = TracerProvider(resource=_resource())
    provider.add_span_processor(processor)
    return provider
