"""Batching webhooks: events arriving within a few milliseconds share one durable run.

A webhook created with ``batch`` (at most that many events) and ``batch_window_ms``
holds the events it receives in memory for at most the window after the first one,
then starts **one** run of its workflow whose ``events`` input is the list of events
(in arrival order). The workflow's steps run once per event through ``--foreach``, so
each event's item is its own activity in the run's history, with its own retries and
analytics events (``step_started``, ``step_succeeded``, ... of ``parse.0``,
``parse.1``, ...); its outputs are its item of the step's merged lists (the store keeps
one record per step, not per item).

Every event keeps its own delivery record (``webhook_deliveries``): its id is claimed
(duplicates are refused with 409, as without batching), then the run and the event's
index in it are recorded, then its own outcome: ``succeeded`` when every item of the
event succeeded, ``failed`` when one of its items failed for good (after that step's
retries). When a run fails because of some events, the other events of the batch are
started again in a new batch run without them, so a failing event fails alone.

At most :data:`RUNS_IN_FLIGHT` batch runs of one webhook run at once; while they do,
the next batch stays open past its window and keeps growing (up to ``batch``), so
under load there are fewer, larger runs rather than a pile of small ones competing for
the worker (and each run's workflow tasks stay within Temporal's task timeout).

Durability: an HTTP caller gets its answer (202, or 200 with its own result under
``?wait=``) only after the batch's run has started, i.e. after Temporal recorded the
events. Until then (the window, plus waiting for a free run slot under load, plus the
start) the events exist only in this process's memory: a crash then loses them, and
their callers get no answer (a connection error), so a sender that retries on errors
delivers them again. Once answered, an event is as durable as any run: its run's
history holds it, each item is retried by its step's policy, and its delivery record
(claimed id, run, index, outcome) is in the store.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from flowat_kernel.access.errors import Conflict
from flowat_kernel.store import RunRecord
from flowat_kernel.store.trigger_records import WebhookRecord

__all__ = [
    "EVENTS",
    "RUNS_IN_FLIGHT",
    "Batcher",
    "Outcome",
    "Placement",
    "Ticket",
    "event_outcomes",
]

log = logging.getLogger(__name__)

#: The workflow input that receives a batch's list of events.
EVENTS = "events"

#: ``start(hook, events) -> run id`` and ``wait(hook, run id) -> finished record``.
Start = Callable[[WebhookRecord, list[Any]], str]
Wait = Callable[[WebhookRecord, str], RunRecord]


@dataclass(frozen=True)
class Placement:
    """Where an event went: its run and its index in the run's ``events``."""

    run_id: str
    index: int


@dataclass(frozen=True)
class Outcome:
    """An event's own result: its status, its items' outputs and error."""

    run_id: str
    index: int
    status: str
    outputs: dict[str, Any]
    error: dict[str, Any] | None


@dataclass
class Ticket:
    """One event waiting in a batch: ``placed`` once its run started, ``done`` at its end."""

    message_id: str
    event: Any
    placed: Future[Placement] = field(default_factory=Future)
    done: Future[Outcome] = field(default_factory=Future)


@dataclass
class _Pending:
    """A batch being filled: ``due`` once its window ended (it waits for a free slot)."""

    hook: WebhookRecord
    tickets: list[Ticket] = field(default_factory=list)
    timer: threading.Timer | None = None
    due: bool = False


@dataclass
class _Lane:
    """One webhook's batches: the open one, closed ones waiting, runs in flight."""

    open: _Pending | None = None
    ready: deque[_Pending] = field(default_factory=deque)
    running: int = 0


#: A started batch run: its id and the events it carries (``None``: nothing started).
_Started = tuple[str, list[Ticket]] | None

#: How many batch runs of one webhook run at once (see :class:`Batcher`).
RUNS_IN_FLIGHT = 2


def event_outcomes(record: RunRecord, count: int) -> list[tuple[str, dict[str, Any], Any]]:
    """Each event's (status, outputs by step, error) in a finished batch run.

    An event's outputs are its item of each ``--foreach`` step's merged exports (lists
    in event order). An event whose item failed the run (the run's error names the item,
    ``STEP.INDEX``) is ``failed``; when the run failed because of such an event, the
    others are ``pending`` (to run again without it); otherwise every event takes the
    run's status.
    """
    merged: dict[str, dict[str, list[Any]]] = {}
    for step in record.steps:
        values = _plain(step.outputs)
        lists = {k: v for k, v in values.items() if isinstance(v, list) and len(v) == count}
        if lists:
            merged[step.name] = lists
    error = record.error or {}
    text = f"{error.get('message', '')}\n{error.get('traceback', '')}"
    culprit = _ITEM.search(text) if record.status == "failed" else None
    blamed = int(culprit.group(2)) if culprit and int(culprit.group(2)) < count else None
    found: list[tuple[str, dict[str, Any], Any]] = []
    for index in range(count):
        outputs = {step: {k: v[index] for k, v in lists.items()} for step, lists in merged.items()}
        if blamed is not None:
            status = "failed" if index == blamed else "pending"
            found.append((status, outputs, error if index == blamed else None))
        else:
            found.append((record.status, outputs, error or None))
    return found


#: How the engine names one ``--foreach`` item in its errors and tracebacks:
#: ``step 'NAME.INDEX'`` or ``<flowat step NAME.INDEX>``.
_ITEM = re.compile(r"step '?([^'\s>]+)\.(\d+)[>']")


def _plain(outputs: dict[str, Any] | None) -> dict[str, Any]:
    """A step record's outputs as values (small ones are stored inline)."""
    return {
        name: value.get("inline", value) if isinstance(value, dict) else value
        for name, value in (outputs or {}).items()
    }


def _logged(work: Callable[..., None]) -> Callable[..., None]:
    """``work`` for a pool thread: an unexpected error is logged, never lost silently."""

    def run(*args: Any) -> None:
        try:
            work(*args)
        except Exception:
            log.exception("a webhook batch failed unexpectedly")

    return run


class _Workers:
    """Daemon threads, at most ``size`` working at once.

    A supervisor waits on its batch's run for as long as the run lasts; unlike a
    ``ThreadPoolExecutor`` (whose threads the interpreter joins at exit), these never
    hold up the process's exit. What a supervisor had not recorded when the process
    ends stays as it was (see the module's note on durability).
    """

    def __init__(self, size: int, name: str) -> None:
        self._slots = threading.BoundedSemaphore(size)
        self._name = name
        self._count = itertools.count(1)
        self._closed = False

    def submit(self, work: Callable[..., None], *args: Any) -> None:
        """Run ``work(*args)`` in a daemon thread once a slot is free."""
        if self._closed:
            return

        def run() -> None:
            with self._slots:
                work(*args)

        name = f"{self._name}_{next(self._count)}"
        threading.Thread(target=run, name=name, daemon=True).start()

    def shutdown(self) -> None:
        """Take no more work (work already running goes on)."""
        self._closed = True


class Batcher:
    """Groups events per webhook and starts one run per batch (thread-safe).

    At most ``runs_in_flight`` batch runs of one webhook run at once. A batch whose
    window ended while that many run stays open and keeps taking events (up to the
    webhook's ``batch``) until one of them ends: under load, batches grow instead of
    runs piling up, so each run's workflow tasks stay short and fewer, larger runs
    carry the same events. A full batch waits its turn the same way.

    Args:
        claim: ``claim(webhook_id, message_ids) -> newly claimed ids`` (duplicates out).
        placed: ``placed(webhook_id, run_id, {message_id: index})`` records placements.
        outcomes: ``outcomes(webhook_id, {message_id: status})`` records outcomes.
        release: ``release(webhook_id, message_ids)`` forgets ids whose run never started.
        start: starts a run of the webhook's workflow with the events; its run id.
        wait: waits for a run to finish; its record.
        supervisors: threads that start batch runs and wait for them to end (outcomes,
            re-runs), for all webhooks together.
        runs_in_flight: batch runs of one webhook at once (at least 1).

    """

    def __init__(
        self,
        *,
        claim: Callable[[str, list[str]], set[str]],
        placed: Callable[[str, str, dict[str, int]], None],
        outcomes: Callable[[str, dict[str, str]], None],
        release: Callable[[str, list[str]], None],
        start: Start,
        wait: Wait,
        supervisors: int = 16,
        runs_in_flight: int = RUNS_IN_FLIGHT,
    ) -> None:
        self._claim, self._placed, self._outcomes = claim, placed, outcomes
        self._release = release
        self._start, self._wait = start, wait
        self._in_flight = max(int(runs_in_flight), 1)
        self._lock = threading.Lock()
        self._lanes: dict[str, _Lane] = {}
        self._pool = _Workers(supervisors, "flowat-batches")

    def submit(self, hook: WebhookRecord, message_id: str | None, event: Any) -> Ticket:
        """Add an event to its webhook's open batch (one without an id gets one)."""
        assert hook.batch_size is not None
        ticket = Ticket(message_id or f"auto_{secrets.token_hex(12)}", event)
        full: _Pending | None = None
        with self._lock:
            lane = self._lanes.setdefault(hook.id, _Lane())
            pending = lane.open
            if pending is None:
                pending = lane.open = _Pending(hook)
                window = (hook.batch_window_ms or 1) / 1000.0
                pending.timer = threading.Timer(window, self._window_over, (hook.id, pending))
                pending.timer.daemon = True
                pending.timer.start()
            pending.tickets.append(ticket)
            if len(pending.tickets) >= hook.batch_size:
                full, lane.open = pending, None
                lane.ready.append(full)
            go = self._take(lane)
        if full is not None and full.timer is not None:
            full.timer.cancel()
        self._dispatch(go)
        return ticket

    def _window_over(self, webhook_id: str, pending: _Pending) -> None:
        with self._lock:
            lane = self._lanes.get(webhook_id)
            if lane is None or lane.open is not pending:
                return  # it filled up and was closed
            pending.due = True
            go = self._take(lane)
        self._dispatch(go)

    def _take(self, lane: _Lane) -> list[_Pending]:
        """The batches of ``lane`` that may start now (called with the lock held)."""
        taken: list[_Pending] = []
        while lane.running < self._in_flight:
            if lane.ready:
                batch = lane.ready.popleft()
            elif lane.open is not None and lane.open.due:
                batch, lane.open = lane.open, None
            else:
                break
            lane.running += 1
            taken.append(batch)
        return taken

    def _dispatch(self, batches: list[_Pending]) -> None:
        for batch in batches:
            self._pool.submit(_logged(self._job), batch.hook, batch.tickets)

    def _job(self, hook: WebhookRecord, tickets: list[Ticket], started: _Started = None) -> None:
        """Start a batch's run (unless ``started``), supervise it, then free its slot."""
        try:
            current = started if started is not None else self._start_batch(hook, tickets)
            while current:
                run_id, running = current
                again = self._supervise(hook, run_id, running)
                current = self._run(hook, again) if again else None
        finally:
            self._finished(hook.id)

    def _finished(self, webhook_id: str) -> None:
        """A batch run of the webhook ended: start what waited for its slot."""
        with self._lock:
            lane = self._lanes.get(webhook_id)
            if lane is None:
                return
            lane.running -= 1
            go = self._take(lane)
            if not lane.running and lane.open is None and not lane.ready:
                del self._lanes[webhook_id]
        self._dispatch(go)

    def _start_batch(self, hook: WebhookRecord, tickets: list[Ticket]) -> _Started:
        """Claim the ids and start the batch's run; the run and the events it carries."""
        try:
            fresh = self._claim(hook.id, [t.message_id for t in tickets])
        except BaseException as exc:
            for ticket in tickets:
                ticket.placed.set_exception(exc)
            return None
        accepted: list[Ticket] = []
        for ticket in tickets:
            if ticket.message_id in fresh:
                fresh.discard(ticket.message_id)  # a second copy within the batch is a duplicate
                accepted.append(ticket)
            else:
                ticket.placed.set_exception(
                    Conflict(f"delivery {ticket.message_id!r} was received before; ignored")
                )
        return self._run(hook, accepted) if accepted else None

    def _run(self, hook: WebhookRecord, tickets: list[Ticket]) -> _Started:
        """Start one run for ``tickets`` (already claimed) and place every event."""
        again = tickets[0].placed.done()  # a re-run: the callers were answered already
        try:
            run_id = self._start(hook, [t.event for t in tickets])
            self._placed(hook.id, run_id, {t.message_id: i for i, t in enumerate(tickets)})
        except BaseException as exc:
            if again:  # recorded as failed: the batch run it was in says why
                self._outcomes(hook.id, {t.message_id: "failed" for t in tickets})
                for ticket in tickets:
                    ticket.done.set_exception(exc)
            else:  # never accepted: forget the ids so the sender's retry is taken
                self._release(hook.id, [t.message_id for t in tickets])
                for ticket in tickets:
                    ticket.placed.set_exception(exc)
            return None
        for index, ticket in enumerate(tickets):
            if not ticket.placed.done():
                ticket.placed.set_result(Placement(run_id, index))
        return run_id, tickets

    def _supervise(self, hook: WebhookRecord, run_id: str, tickets: list[Ticket]) -> list[Ticket]:
        """Record each event's outcome; the events another event held back (to run again)."""
        try:
            record = self._wait(hook, run_id)
        except BaseException as exc:
            for ticket in tickets:
                ticket.done.set_exception(exc)
            return []
        results = event_outcomes(record, len(tickets))
        again = [
            t for t, (status, _, _) in zip(tickets, results, strict=True) if status == "pending"
        ]
        final = {
            t.message_id: status
            for t, (status, _, _) in zip(tickets, results, strict=True)
            if status != "pending"
        }
        self._outcomes(hook.id, final)
        for index, (ticket, (status, outputs, error)) in enumerate(
            zip(tickets, results, strict=True)
        ):
            if status != "pending":
                ticket.done.set_result(Outcome(run_id, index, status, outputs, error))
        return again

    def close(self) -> None:
        """Start every waiting batch's run now, then take no more supervision work."""
        with self._lock:
            waiting: list[_Pending] = []
            for lane in self._lanes.values():
                batches = [*lane.ready, *([lane.open] if lane.open is not None else [])]
                lane.ready.clear()
                lane.open = None
                lane.running += len(batches)
                waiting.extend(batches)
        for batch in waiting:
            if batch.timer is not None:
                batch.timer.cancel()
            started = self._start_batch(batch.hook, batch.tickets)
            if started:
                self._pool.submit(_logged(self._job), batch.hook, batch.tickets, started)
        self._pool.shutdown()
