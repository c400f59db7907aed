"""The run object returned by ``flowat.run`` and ``%flowat run``."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from flowat_kernel.engine.artifacts import ArtifactStore
from flowat_kernel.engine.values import Value, decode, describe
from flowat_kernel.store import RunRecord

__all__ = ["Run", "run_link", "workflow_link"]


def run_link(run_id: str, text: str = "open run view") -> str:
    """A link FlowAt's JupyterLab extension follows: it opens the run's view in the panel.

    A plain ``#flowat-run=ID`` fragment, so it survives the output sanitizer of an
    untrusted notebook; outside JupyterLab it does nothing.
    """
    return (
        f"<a class='flowat-run-link' href='#flowat-run={html.escape(run_id)}' "
        f"title='Open run {html.escape(run_id)} in JupyterLab (FlowAt panel)'>"
        f"{html.escape(text)}</a>"
    )


def workflow_link(workflow: str, text: str = "show runs in the FlowAt panel") -> str:
    """A link that shows the FlowAt panel's runs of ``workflow`` in JupyterLab."""
    return (
        f"<a class='flowat-workflow-link' href='#flowat-workflow={html.escape(workflow)}' "
        f"title='Show the runs of {html.escape(workflow)} in JupyterLab (FlowAt panel)'>"
        f"{html.escape(text)}</a>"
    )


class Run:
    """A run of a workflow version: status, outputs and per-step timings.

    ``outputs`` maps each step to the values it exported, loaded on access (a data
    frame passed by reference comes back as a data frame).
    """

    def __init__(self, record: RunRecord, artifacts: ArtifactStore) -> None:
        self.record = record
        self._artifacts = artifacts
        self._loaded: dict[str, dict[str, Any]] | None = None

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self.record.run_id

    @property
    def workflow(self) -> str:
        """The workflow's name."""
        return self.record.workflow

    @property
    def version(self) -> int:
        """The version number that ran."""
        return self.record.version

    @property
    def status(self) -> str:
        """``queued``, ``running``, ``succeeded``, ``failed``, ``cancelled`` or ``timed_out``."""
        return self.record.status

    @property
    def error(self) -> Mapping[str, Any] | None:
        """Why the run failed (step, type, message, cell line), or ``None``."""
        return self.record.error

    @property
    def steps(self) -> list[dict[str, Any]]:
        """Per step: name, status, attempts, start, end and duration in seconds."""
        return [
            {
                "name": s.name,
                "status": s.status,
                "attempts": s.attempts,
                "started_at": s.started_at.isoformat() if s.started_at else None,
                "ended_at": s.ended_at.isoformat() if s.ended_at else None,
                "duration_seconds": s.duration_seconds,
                "error": s.error,
            }
            for s in self.record.steps
        ]

    def _values(self) -> dict[str, dict[str, Value]]:
        return {
            s.name: {n: Value.model_validate(v) for n, v in (s.outputs or {}).items()}
            for s in self.record.steps
            if s.outputs is not None
        }

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        """Step name to its exported values, as Python objects."""
        if self._loaded is None:
            self._loaded = {
                step: {name: decode(value, self._artifacts) for name, value in values.items()}
                for step, values in self._values().items()
            }
        return self._loaded

    def to_json(self) -> dict[str, Any]:
        """The ``flowat run --json`` document."""
        document: dict[str, Any] = {
            "workflow": self.workflow,
            "version": self.version,
            "run_id": self.run_id,
            "status": self.status,
            "outputs": {
                step: {name: describe(value) for name, value in values.items()}
                for step, values in self._values().items()
            },
            "steps": self.steps,
        }
        if self.error:
            document["error"] = {k: v for k, v in self.error.items() if k != "traceback"}
        return document

    def __repr__(self) -> str:
        return f"<Run {self.workflow} v{self.version} {self.run_id} {self.status}>"

    def _repr_html_(self) -> str:
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(v))}</td>"
                for v in (
                    s["name"],
                    s["status"],
                    s["attempts"],
                    f"{s['duration_seconds']:.3f}s" if s["duration_seconds"] is not None else "",
                )
            )
            + "</tr>"
            for s in self.steps
        )
        error = ""
        if self.error:
            error = f"<p><b>{html.escape(str(self.error.get('message')))}</b></p>"
        where = self.record.executed_by
        ran = f" — ran in {html.escape(where)}" if where else ""
        return (
            f"<p>Run <code>{self.run_id}</code> of <b>{html.escape(self.workflow)}</b> "
            f"v{self.version}: <b>{self.status}</b>{ran} ({run_link(self.run_id)})</p>{error}"
            "<table><tr><th>step</th><th>status</th><th>attempts</th><th>time</th></tr>"
            f"{rows}</table>"
        )
