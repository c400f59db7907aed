"""The Temporal interceptors of FlowAt's tracing: Temporal's spans plus FlowAt's identifiers.

Imported only when ``FLOWAT_TRACING`` is on (see :mod:`flowat_kernel.engine.tracing`).
:class:`RunTracing` is Temporal's own
:class:`~temporalio.contrib.opentelemetry.TracingInterceptor` (client spans, the
workflow's spans, one span per activity, context carried in Temporal headers), whose
workflow spans also name the FlowAt run. :class:`RunIdentifiers`, placed inside it,
adds FlowAt's identifiers to the client's start span and to each activity's span.

Attributes (identifiers only, never parameters, inputs, outputs or secret values):

| attribute | on |
| --- | --- |
| ``flowat.run_id``, ``.workflow``, ``.version`` | a run's start span, workflow and activity spans |
| ``flowat.step`` | a step's activity span (also of a step the workflow records) |
| ``flowat.organization`` | activity spans, once the worker has verified the run |
| ``flowat.queue`` | the activity span: the task queue the worker polls |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import opentelemetry.trace
import opentelemetry.util.types
import temporalio.activity
import temporalio.client
import temporalio.worker
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor

from flowat_kernel.engine.trust import known_owner

__all__ = ["RunIdentifiers", "RunTracing", "identifiers", "interceptors"]

Attributes = dict[str, str | int]
#: Fields of bookkeeping messages that hold the run's own message.
_WRAPPERS = ("reference", "finish")


def identifiers(message: Any) -> Attributes:
    """The FlowAt identifiers ``message`` (a run's or a step's input) names, as attributes.

    Reads only the identifying fields (run id, workflow, version, step name, owner) of
    whatever model an activity or the graph workflow receives, or of the run's message
    it wraps (``reference``, ``finish``); anything else is ignored.
    """
    if getattr(message, "run_id", None) is None:
        for wrapped in _WRAPPERS:
            inner = getattr(message, wrapped, None)
            if inner is not None:
                return identifiers(inner)
    found: Attributes = {}
    for field, key in (
        ("run_id", "flowat.run_id"),
        ("workflow", "flowat.workflow"),
        ("version", "flowat.version"),
        ("owner", "flowat.organization"),
    ):
        value = getattr(message, field, None)
        if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
            found[key] = value
    step = getattr(message, "step", None)
    name = step if isinstance(step, str) else getattr(step, "name", None)
    if isinstance(name, str) and name:
        found["flowat.step"] = name
    return found


def _first(args: Any) -> Any:
    return args[0] if args else None


class _RunWorkflowSpans(TracingWorkflowInboundInterceptor):
    """Temporal's workflow spans, each also naming the run (from the workflow's input).

    Runs in Temporal's workflow sandbox; it reads the start input only, deterministically.
    """

    _run: Attributes = {}

    async def execute_workflow(self, input: temporalio.worker.ExecuteWorkflowInput) -> Any:
        """Remember the run's identifiers, then run the workflow as Temporal traces it."""
        self._run = identifiers(_first(input.args))
        return await super().execute_workflow(input)

    def _completed_span(
        self,
        span_name: str,
        *,
        additional_attributes: opentelemetry.util.types.Attributes = None,
        **options: Any,
    ) -> None:
        merged: dict[str, opentelemetry.util.types.AttributeValue] = dict(self._run)
        merged.update(additional_attributes or {})
        super()._completed_span(span_name, additional_attributes=merged or None, **options)


class RunTracing(TracingInterceptor):
    """Temporal's tracing interceptor, with workflow spans that name the FlowAt run."""

    def workflow_interceptor_class(
        self, input: temporalio.worker.WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        """Temporal's workflow interceptor set-up, with :class:`_RunWorkflowSpans`."""
        super().workflow_interceptor_class(input)  # registers the span extern function
        return _RunWorkflowSpans


def _annotate(attributes: Mapping[str, str | int]) -> None:
    span = opentelemetry.trace.get_current_span()
    if attributes and span.is_recording():
        span.set_attributes(attributes)


class _StartIdentifiers(temporalio.client.OutboundInterceptor):
    async def start_workflow(
        self, input: temporalio.client.StartWorkflowInput
    ) -> temporalio.client.WorkflowHandle[Any, Any]:
        _annotate(identifiers(_first(input.args)))
        return await super().start_workflow(input)


class _ActivityIdentifiers(temporalio.worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: temporalio.worker.ExecuteActivityInput) -> Any:
        message = _first(input.args)
        found = identifiers(message)
        info = temporalio.activity.info()
        if isinstance(message, str) and info.activity_type == "flowat.run_started":
            found["flowat.run_id"] = message  # its one argument is the run id
        found["flowat.queue"] = info.task_queue
        _annotate(found)
        try:
            return await super().execute_activity(input)
        finally:
            run_id = found.get("flowat.run_id")
            if isinstance(run_id, str) and "flowat.organization" not in found:
                owner = known_owner(run_id)  # the worker verified the run: no store query
                if owner:
                    _annotate({"flowat.organization": owner})


class RunIdentifiers(temporalio.client.Interceptor, temporalio.worker.Interceptor):
    """Adds FlowAt's identifiers to the span Temporal's interceptor opened around a call.

    Goes after :class:`RunTracing` in the client's interceptors, so that its calls run
    inside Temporal's span; workers built on the client get it too.
    """

    def intercept_client(
        self, next: temporalio.client.OutboundInterceptor
    ) -> temporalio.client.OutboundInterceptor:
        """Names the run on the span of the start request."""
        return _StartIdentifiers(next)

    def intercept_activity(
        self, next: temporalio.worker.ActivityInboundInterceptor
    ) -> temporalio.worker.ActivityInboundInterceptor:
        """Names the run, step and organization on each activity's span."""
        return _ActivityIdentifiers(next)


def interceptors(tracer: opentelemetry.trace.Tracer) -> list[temporalio.client.Interceptor]:
    """The client interceptors that trace runs with ``tracer`` (workers inherit them)."""
    # A workflow no FlowAt client started (a schedule's launcher, started by Temporal
    # on the schedule's time) still gets its spans, so a scheduled run is one trace,
    # rooted at the launcher starting the run's graph workflow, with the graph's and
    # the steps' spans below. Spans made after a worker replayed such a workflow start
    # a trace of their own (Temporal's caveat).
    return [RunTracing(tracer, always_create_workflow_spans=True), RunIdentifiers()]
