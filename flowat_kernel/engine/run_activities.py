"""The run-level activities of a worker: a run loaded, started, finished; steps it records.

:class:`RunActivities` is the part of
:class:`~flowat_kernel.engine.activities.StepActivities` that records runs and the steps
the workflow runs itself (logic, wait, skipped, merged ``--foreach``), with the plumbing
the step activity shares: analytics events and the background step-record writer.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from flowat_kernel.analytics.events import event
from flowat_kernel.analytics.writer import EventWriter
from flowat_kernel.engine.approval_publisher import publish_links
from flowat_kernel.engine.cells.kept import release_run
from flowat_kernel.engine.messages import RunFinish, RunReference, StepRecord
from flowat_kernel.engine.record_writer import RecordWriter
from flowat_kernel.engine.step_events import step_event
from flowat_kernel.engine.step_exports import masked
from flowat_kernel.engine.trust import ForgedTask, RunAuthority, verify_reference, verify_run
from flowat_kernel.engine.values import Value
from flowat_kernel.spec import WorkflowSpec
from flowat_kernel.store import Store
from flowat_kernel.store.clock import utcnow
from flowat_kernel.store.run_records import StepWrite
from flowat_kernel.vault.redaction import redact_data, register
from flowat_kernel.vault.vault import Vault

__all__ = ["RunActivities", "finish_events"]

log = logging.getLogger(__name__)


class _Items(threading.local):
    """Inside :meth:`RunActivities.items` (this thread): events held for one write."""

    events: list[dict[str, Any]] | None = None


_items = _Items()


class RunActivities:
    """Run-level activities over a store, a vault and an event writer.

    Subclassed by :class:`~flowat_kernel.engine.activities.StepActivities`, which sets
    the attributes below.
    """

    store: Store
    records: RecordWriter
    vault: Vault
    events: EventWriter | None

    @contextlib.contextmanager
    def items(self) -> Iterator[None]:
        """Attempts of ``--foreach`` items run in this block (this thread): a chunk's, or one.

        Their analytics events are written together when the block ends (one write, not
        one per event), and their step changes are not queued: the store keeps one record
        per step, not per item (a ``--foreach`` step's record merges its items), so an
        item's change would update no row.
        """
        _items.events = []
        try:
            yield
        finally:
            held, _items.events = _items.events, None
            self._emit(*held)

    def recording(self) -> bool:
        """Whether attempts run now get step records (not the items of a chunk)."""
        return _items.events is None

    def _emit(self, *rows: dict[str, Any]) -> None:
        """Record analytics events; a failure there never fails a step."""
        if self.events is None or not rows:
            return
        if _items.events is not None:
            _items.events.extend(rows)
            return
        try:
            self.events.emit_many(rows)
        except Exception as exc:
            log.warning("analytics events not recorded: %s", exc)

    def _publish_approval_links(self, record: StepRecord) -> None:
        """A ``--wait-for`` step waits: send the links its ``approval`` alerts ask for."""
        try:
            publish_links(self, record.owner, record.run_id, record.workflow, record.step)
        except Exception as exc:  # a link not published never fails the run
            log.warning("approval links of run %s not published: %s", record.run_id, exc)

    @activity.defn(name="flowat.run_loaded")
    def run_loaded(self, reference: RunReference) -> WorkflowSpec:
        """The run's published spec, from the store, after checking the reference.

        The run must be recorded, for the workflow and version named, and the published
        spec's hash must be the one the run was started with. Then the run is marked
        running. Anything else is refused (not retried) and logged.
        """
        try:
            authority = verify_reference(self.store, reference)
        except ForgedTask as exc:
            log.error("%s", exc)  # the worker log says why nothing ran
            raise ApplicationError(str(exc), type="ForgedTask", non_retryable=True) from None
        self.store.run_started(reference.run_id)
        self._emit(event("run_started", run_id=reference.run_id))
        return authority.spec

    @activity.defn(name="flowat.run_started")
    def run_started(self, run_id: str) -> None:
        """Mark the run running (a run FlowAt did not record is refused, and logged)."""
        try:
            verify_run(self.store, run_id)
        except ForgedTask as exc:
            log.error("%s", exc)
            raise ApplicationError(str(exc), type="ForgedTask", non_retryable=True) from None
        self.store.run_started(run_id)
        self._emit(event("run_started", run_id=run_id))

    @activity.defn(name="flowat.run_finished")
    def run_finished(self, finish: RunFinish) -> None:
        """Record the run's final status; a failed step is marked with its error.

        Step records that could not be written during the run (the store was down)
        catch up here from what the workflow knows; this activity retries until the
        store answers. Step changes this process still holds are written first, so a
        run's end is recorded after its steps'.
        """
        self.record_end(finish)

    def record_end(self, finish: RunFinish) -> RunAuthority:
        """What ``flowat.run_finished`` (and ``flowat.run_end``) does; the run's authority.

        One store transaction (:meth:`~flowat_kernel.store.run_records.RunRecords.finish_run`)
        after the step writes this process still holds; the analytics events are made
        from what the worker knows, without reading the run back.
        """
        release_run(finish.run_id)  # its step process kept here, if any, ends now
        if not self.records.flush():
            log.warning("step records of run %s still queued at its end", finish.run_id)
        authority = verify_run(self.store, finish.run_id)
        owner = authority.owner
        if finish.owner != owner:
            finish = finish.model_copy(update={"owner": owner})
            if finish.failed_task is not None:
                task = finish.failed_task.model_copy(update={"owner": owner})
                finish = finish.model_copy(update={"failed_task": task})
        self._register_tainted(finish.outputs.values(), owner)
        succeeded = {
            step: {
                name: masked(value).model_dump(mode="json", exclude_defaults=True)
                for name, value in values.items()
            }
            for step, values in finish.outputs.items()
        }
        failed = finish.failed_step if finish.error is not None else None
        if failed is not None and finish.error is not None and finish.failed_task is not None:
            from flowat_kernel.engine.dead_letters import DeadLetterQueue

            # parked before the end is recorded: a failed run's dead letter is there
            DeadLetterQueue(self.store, self.vault).park(finish.failed_task, finish.error)
        duration = self.store.finish_run(
            finish.run_id, finish.status, finish.error, succeeded, finish.states, failed
        )
        self._emit(*finish_events(authority, finish, duration))
        return authority

    def _register_tainted(self, exports: Iterable[dict[str, Value]], owner: str | None) -> None:
        """Register the secrets ``exports`` may hold, so that records mask them."""
        tainted = {n for values in exports for v in values.values() for n in v.secrets}
        for name in sorted(tainted):
            register(name, self.vault.reveal_value(name, owner))

    @activity.defn(name="flowat.record_step")
    def record_step(self, record: StepRecord) -> None:
        """Record a step the workflow ran itself (logic, wait, skipped, merged --foreach)."""
        owner = verify_run(self.store, record.run_id, record.workflow).owner
        if record.owner != owner:
            record = record.model_copy(update={"owner": owner})
        self._register_tainted([record.outputs], owner)
        outputs = {
            name: masked(value).model_dump(mode="json", exclude_defaults=True)
            for name, value in record.outputs.items()
        }
        self._started(record.run_id, record.step, 1)
        if record.status == "running":
            self._publish_approval_links(record)
        if record.status != "running":
            self._finished(
                record.run_id,
                record.step,
                record.status,
                1,
                error=redact_data(record.error) if record.error else None,
                outputs=outputs if record.status == "succeeded" else None,
            )
        self._emit(
            event(
                {"running": "step_started", "skipped": "step_skipped"}.get(
                    record.status, f"step_{record.status}"
                ),
                run_id=record.run_id,
                workflow=record.workflow,
                version=record.version,
                owner=record.owner,
                step=record.step,
                attempt=1,
                duration_ms=record.duration_ms,
            )
        )

    def _started(self, run_id: str, step: str, attempt: int) -> None:
        """Record that an attempt started (written in the background, in order)."""
        if not self.recording():  # an item of a chunk: no record of its own
            return
        self.records.put(StepWrite(run_id, step, "running", attempt, utcnow()))

    def _finished(
        self,
        run_id: str,
        step: str,
        status: str,
        attempt: int,
        *,
        error: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
        logs: str | None = None,
        display: list[dict[str, Any]] | None = None,
    ) -> None:
        """Record how an attempt ended (in the background; ``run_finished`` catches up)."""
        if not self.recording():  # an item of a chunk: no record of its own
            return
        write = StepWrite(run_id, step, status, attempt, utcnow(), error, outputs, logs, display)
        self.records.put(write)


def finish_events(
    run: RunAuthority, finish: RunFinish, duration: float | None
) -> list[dict[str, Any]]:
    """The run's end, and steps that ended without running (skipped, cancelled)."""
    record = run
    rows = [
        event(
            "run_finished",
            run_id=finish.run_id,
            workflow=record.workflow,
            version=record.version,
            owner=record.owner,
            status=finish.status,
            duration_ms=None if duration is None else 1000 * duration,
            error_type=(finish.error or {}).get("type"),
        )
    ]
    for step, state in finish.states.items():
        if state in ("skipped", "cancelled"):
            rows.append(
                event(
                    f"step_{state}",
                    run_id=finish.run_id,
                    workflow=record.workflow,
                    version=record.version,
                    owner=record.owner,
                    step=step,
                )
            )
    if finish.failed_task is not None and finish.error is not None:
        rows.append(
            step_event(
                "dead_lettered",
                finish.failed_task,
                error_type=finish.error.get("type"),
                error=str(finish.error.get("message", "")),
            )
        )
    return rows
