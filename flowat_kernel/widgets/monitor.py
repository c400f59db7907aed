"""The run monitor: a run's graph coloured by step state, live while the run goes on.

States come from the store's step records (what every process sees), plus the
``waiting`` state (a timer or a signal) from the run's own ``flowat.states`` query.
A background thread polls at a bounded interval and stops when the run ends; the
monitor is also a progress callback, so ``%flowat run`` can drive it directly.
Selecting a step shows its inputs, outputs (data frames as previews), timings,
attempts and error, all as masked in the run records.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from flowat_kernel.engine.values import Value, describe
from flowat_kernel.runtime import get_runtime
from flowat_kernel.spec import WorkflowSpec
from flowat_kernel.store import RunRecord
from flowat_kernel.widgets.graph_model import GraphNode, edges_of, nodes_of
from flowat_kernel.widgets.graph_view import GraphView

if TYPE_CHECKING:
    from flowat_kernel.runtime import Runtime

__all__ = ["MAX_INTERVAL", "MIN_INTERVAL", "RunMonitor", "step_states"]

MIN_INTERVAL = 0.2
MAX_INTERVAL = 5.0
_DONE = frozenset({"succeeded", "failed", "skipped", "cancelled"})


def step_states(
    spec: WorkflowSpec, record: RunRecord, live: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Each step's state: its record's status, ``pending`` before it has one.

    ``live`` (the workflow's own view) adds ``waiting`` for steps on a timer or a
    signal, which the records show as running.
    """
    states = {step.name: "pending" for step in spec.steps}
    for step in record.steps:
        states[step.name] = step.status
    for name, state in (live or {}).items():
        if state == "waiting" and states.get(name) not in _DONE:
            states[name] = "waiting"
    return states


async def _live_states(runtime: Runtime, record: RunRecord) -> dict[str, str]:
    client = await runtime.client()
    handle = client.get_workflow_handle(record.temporal_workflow_id)
    states: dict[str, str] = await handle.query("flowat.states")
    return states


def _value_html(raw: Any, artifacts: Any) -> str:
    try:
        value = Value.model_validate(raw)
    except Exception:
        return f"<code>{html.escape(repr(raw)[:300])}</code>"
    if value.secrets:
        return "<i>may hold secret " + html.escape(", ".join(value.secrets)) + ": masked</i>"
    if value.ref is not None and value.ref.format == "parquet":
        try:
            frame = artifacts.get(value.ref)
            table = str(frame.head(8).to_html(max_cols=12, border=0))
            return f"<small>{html.escape(value.ref.description)}</small>{table}"
        except Exception as exc:  # a missing artifact still shows what it was
            return f"<i>{html.escape(value.ref.description)} (not readable: {exc})</i>"
    text = repr(describe(value))
    return f"<code>{html.escape(text[:500])}{'…' if len(text) > 500 else ''}</code>"


def _moment(when: datetime | None) -> str:
    """A step's time as a person reads it: to the second, in UTC, said so."""
    if when is None:
        return "—"
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


class RunMonitor:
    """A run's graph coloured by state, with the selected step's details.

    Args:
        run_id: the run to show.
        interval: seconds between polls while the run is going (0.2 to 5).
        follow: poll in the background until the run ends.

    """

    def __init__(self, run_id: str, *, interval: float = 0.5, follow: bool = True) -> None:
        from flowat_kernel.api import default_workspace

        self.runtime = get_runtime()
        store = self.runtime.store
        self.record = default_workspace().record(run_id)  # short ids too; checks the role
        run_id = self.record.run_id
        self.spec = store.get_version(
            self.record.owner, self.record.workflow, self.record.version
        ).spec
        self.interval = min(max(interval, MIN_INTERVAL), MAX_INTERVAL)
        self.view = GraphView(name=f"run:{run_id}")
        self._base: dict[str, GraphNode] = {n.id: n for n in nodes_of(self.spec)}
        self.view.show(list(self._base.values()), edges_of(self.spec.edges))
        self.title = widgets.HTML()
        self.details = widgets.HTML("<i>select a step for its inputs, outputs and timings</i>")
        self.widget = widgets.VBox([self.title, self.view.widget, self.details])
        self.states: dict[str, str] = {}
        self.selected: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live: dict[str, str] = {}
        self.view.on_select(self.select)
        self.update(self.record)
        if follow and not self.record.finished:
            self.start()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        self.view.displayed()
        return self.widget._repr_mimebundle_(**kwargs)

    def __call__(self, record: RunRecord) -> None:
        """Progress callback: show ``record``."""
        self.update(record)

    def update(self, record: RunRecord) -> dict[str, str]:
        """Recolour the graph from ``record``; returns the states shown."""
        self.record = record
        self.states = step_states(self.spec, record, self._live)
        for name, state in self.states.items():
            base = self._base.get(name)
            if base is not None:
                self.view.set_classes(name, (*base.classes, f"state-{state}"))
        self.title.value = (
            f"<span class='flowat-run-status' data-status='{record.status}'><b>"
            f"{html.escape(record.workflow)}</b> v{record.version} run "
            f"<code>{html.escape(record.run_id[:12])}</code>: <b>{record.status}</b></span>"
        )
        if self.selected is not None:
            self.select(self.selected)
        return self.states

    # -- polling ------------------------------------------------------------------------

    def start(self) -> None:
        """Poll in a background thread until the run ends (or :meth:`stop`)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="flowat-monitor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def polling(self) -> bool:
        """Whether the background poll is running."""
        return self._thread is not None and self._thread.is_alive()

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                record = self.runtime.store.get_run(self.record.run_id)
                if not record.finished and any(s.kind == "wait" for s in self.spec.steps):
                    self._live = self.runtime.call(_live_states(self.runtime, record), timeout=5)
                self.update(record)
            except Exception:  # a store restart or a closed run: try again next time
                continue
            if record.finished:
                return

    # -- details ------------------------------------------------------------------------

    def select(self, name: str) -> None:
        """Show step ``name``'s inputs, outputs, timings, attempts and error."""
        self.selected = name
        self.details.value = self.details_html(name)

    def details_html(self, name: str) -> str:
        """The detail panel of step ``name`` as HTML."""
        step = self.spec.step(name)
        records = {s.name: s for s in self.record.steps}
        found = records.get(name)
        artifacts = self.runtime.artifacts
        rows = [
            f"<h4>{html.escape(name)} <small>{html.escape(step.kind)}</small>: "
            f"{self.states.get(name, 'pending')}</h4>"
        ]
        if found is not None and found.reused:
            rows.append("<div>reused: its outputs come from the run this one re-runs</div>")
        elif found is not None:
            took = f"{found.duration_seconds:.3f} s" if found.duration_seconds is not None else "—"
            rows.append(
                f"<div>attempts {found.attempts} · started {_moment(found.started_at)} · "
                f"ended {_moment(found.ended_at)} · took {took}</div>"
            )
            if found.error:
                message = found.error.get("message", "")
                kind = found.error.get("type", "error")
                rows.append(
                    f"<div style='color:#d50000'><b>{html.escape(str(kind))}</b>: "
                    f"{html.escape(str(message))}</div>"
                )
        inputs = []
        for binding in step.inputs:
            if binding.source == "input":
                given = repr(self.record.parameters.get(binding.name))[:300]
                shown = f"<code>{html.escape(given)}</code>"
            else:
                upstream = records.get(binding.step or "")
                raw = (upstream.outputs or {}).get(binding.name) if upstream else None
                shown = _value_html(raw, artifacts) if raw is not None else "<i>not yet</i>"
            inputs.append(f"<li><b>{html.escape(binding.name)}</b> {shown}</li>")
        rows.append("<div><b>inputs</b><ul>" + ("".join(inputs) or "<li>none</li>") + "</ul></div>")
        outputs = [
            f"<li><b>{html.escape(key)}</b> {_value_html(raw, artifacts)}</li>"
            for key, raw in ((found.outputs or {}) if found else {}).items()
        ]
        rows.append(
            "<div><b>outputs</b><ul>" + ("".join(outputs) or "<li>none</li>") + "</ul></div>"
        )
        return "<div class='flowat-step-details'>" + "".join(rows) + "</div>"
