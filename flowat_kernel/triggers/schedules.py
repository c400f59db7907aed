"""Schedules: Temporal Schedules that start a workflow on a cron expression or interval.

The schedule lives in Temporal (which fires it, applies the overlap policy and the
catch-up window, and keeps its state); a row in the store records which organization
it belongs to. Each firing starts the launcher (see :mod:`flowat_kernel.triggers.launcher`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flowat_kernel.access.principal import Principal
from flowat_kernel.engine.services import LaunchServices as Runtime
from flowat_kernel.errors import FlowAtError
from flowat_kernel.params import coerce_parameters
from flowat_kernel.store.trigger_records import ScheduleRecord
from flowat_kernel.triggers.launcher import LAUNCHER_NAME, LaunchRequest
from flowat_kernel.triggers.worker import trigger_queue

__all__ = ["OVERLAP_POLICIES", "ScheduleInfo", "Schedules", "parse_duration"]

OVERLAP_POLICIES = (
    "skip",
    "buffer_one",
    "buffer_all",
    "cancel_other",
    "terminate_other",
    "allow_all",
)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | float | int) -> timedelta:
    """``30s``, ``5m``, ``2h``, ``1d`` or a number of seconds as a duration.

    Raises:
        FlowAtError: not a positive duration.

    """
    raw = str(text).strip().lower()
    unit = raw[-1:] if raw[-1:] in _UNITS else "s"
    number = raw[:-1] if raw[-1:] in _UNITS else raw
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 10 * 365 * 86400:
        raise FlowAtError(f"{text!r} is not a duration; write for example 30s, 5m, 2h or 1d")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class ScheduleInfo:
    """A schedule as stored, with its live state from Temporal when known."""

    id: str
    owner: str
    workflow: str
    version: int | None
    spec: dict[str, Any]
    parameters: dict[str, Any]
    created_at: datetime
    created_by: str
    paused: bool | None = None
    next_runs: tuple[str, ...] = ()
    recent_runs: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "id": self.id,
            "workflow": self.workflow,
            "version": self.version if self.version is not None else "latest",
            **self.spec,
            "parameters": self.parameters,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "paused": self.paused,
            "next_runs": list(self.next_runs),
            "recent_runs": list(self.recent_runs),
        }


def _info(record: ScheduleRecord) -> ScheduleInfo:
    return ScheduleInfo(
        id=record.id,
        owner=record.owner,
        workflow=record.workflow,
        version=record.version,
        spec=dict(record.spec),
        parameters=dict(record.parameters),
        created_at=record.created_at,
        created_by=record.created_by,
    )


class Schedules:
    """Creates and manages an organization's schedules.

    Args:
        runtime: the process's runtime (store and Temporal client).

    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store

    def add(
        self,
        actor: Principal,
        workflow: str,
        *,
        cron: str | None = None,
        every: str | None = None,
        timezone: str = "UTC",
        version: int | None = None,
        parameters: dict[str, Any] | None = None,
        overlap: str = "skip",
        catchup: str = "1m",
        paused: bool = False,
    ) -> ScheduleInfo:
        """Create a schedule for ``workflow`` (``version`` pinned, or the latest at each firing).

        Raises:
            FlowAtError: neither or both of cron and every, an unknown time zone or
                overlap policy, parameters the workflow does not take, or a cron
                expression Temporal refuses.
            NotFoundError: no such workflow or version.

        """
        from temporalio.client import (
            Schedule,
            ScheduleActionStartWorkflow,
            ScheduleIntervalSpec,
            ScheduleOverlapPolicy,
            SchedulePolicy,
            ScheduleSpec,
            ScheduleState,
        )
        from temporalio.service import RPCError

        actor.require("schedules:write", workflow)
        if (cron is None) == (every is None):
            raise FlowAtError('give exactly one of a cron expression ("0 * * * *") or every=')
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise FlowAtError(
                f"unknown time zone {timezone!r}; use e.g. UTC or Europe/Paris"
            ) from None
        if overlap not in OVERLAP_POLICIES:
            raise FlowAtError(f"overlap must be one of {', '.join(OVERLAP_POLICIES)}")
        window = parse_duration(catchup)
        target = self.store.get_version(actor.owner, workflow, version)
        given = dict(parameters or {})
        coerce_parameters(target.spec.inputs, given)  # refuse bad parameters now
        spec: dict[str, Any] = {"timezone": timezone, "overlap": overlap, "catchup": catchup}
        if cron is not None:
            spec["cron"] = cron
            timing = ScheduleSpec(cron_expressions=[cron], time_zone_name=timezone)
        else:
            spec["every"] = every
            interval = ScheduleIntervalSpec(every=parse_duration(str(every)))
            timing = ScheduleSpec(intervals=[interval], time_zone_name=timezone)
        schedule_id = f"flowat-{secrets.token_hex(6)}"
        request = LaunchRequest(
            schedule_id=schedule_id,
            owner=actor.owner,
            workflow=workflow,
            version=version,
            parameters=given,
        )
        schedule = Schedule(
            action=ScheduleActionStartWorkflow(
                LAUNCHER_NAME,
                request,
                id=f"{schedule_id}-run",
                task_queue=trigger_queue(self.runtime.settings.task_queue),
            ),
            spec=timing,
            policy=SchedulePolicy(
                overlap=ScheduleOverlapPolicy[overlap.upper()], catchup_window=window
            ),
            state=ScheduleState(paused=paused, note=f"FlowAt schedule of {workflow}"),
        )

        async def create() -> None:
            client = await self.runtime.client()
            await client.create_schedule(schedule_id, schedule)

        try:
            self.runtime.call(create())
        except RPCError as exc:
            raise FlowAtError(f"Temporal refused the schedule: {exc.message}") from exc

        stored = self.store.add_schedule(
            schedule_id=schedule_id,
            owner=actor.owner,
            workflow=workflow,
            version=version,
            spec=spec,
            parameters=given,
            created_by=actor.user,
        )
        return self.get(stored.owner, stored.id)

    def _row(self, owner: str, schedule_id: str) -> ScheduleInfo:
        return _info(self.store.schedule(owner, schedule_id))

    def get(self, owner: str, schedule_id: str) -> ScheduleInfo:
        """One schedule with its live state (paused, next and recent firings)."""
        info = self._row(owner, schedule_id)
        from temporalio.service import RPCError

        async def describe() -> Any:
            client = await self.runtime.client()
            return await client.get_schedule_handle(schedule_id).describe()

        try:
            described = self.runtime.call(describe())
        except RPCError:
            return info
        state = described.schedule.state
        nexts = tuple(t.isoformat() for t in described.info.next_action_times[:5])
        recent = tuple(
            a.started_at.isoformat() for a in described.info.recent_actions[-5:] if a.started_at
        )
        return ScheduleInfo(
            **{**info.__dict__, "paused": state.paused, "next_runs": nexts, "recent_runs": recent}
        )

    def list(self, owner: str) -> list[ScheduleInfo]:
        """The organization's schedules with their live state."""
        return [self.get(owner, i) for i in self.store.schedule_ids(owner)]

    def _act(self, actor: Principal, schedule_id: str, action: str) -> ScheduleInfo:
        info = self._row(actor.owner, schedule_id)
        actor.require("schedules:write", info.workflow)
        from temporalio.service import RPCError

        async def act() -> None:
            client = await self.runtime.client()
            handle = client.get_schedule_handle(schedule_id)
            if action == "paused":
                await handle.pause(note="paused through FlowAt")
            elif action == "resumed":
                await handle.unpause(note="resumed through FlowAt")
            elif action == "triggered":
                await handle.trigger()
            else:
                await handle.delete()

        try:
            self.runtime.call(act())
        except RPCError as exc:
            if action != "deleted":
                raise FlowAtError(
                    f"Temporal refused to change the schedule: {exc.message}"
                ) from exc
        self.store.schedule_changed(
            actor.owner, schedule_id, action, actor.user, deleted=action == "deleted"
        )
        return info if action == "deleted" else self.get(actor.owner, schedule_id)

    def pause(self, actor: Principal, schedule_id: str) -> ScheduleInfo:
        """Pause a schedule (no firings until resumed)."""
        return self._act(actor, schedule_id, "paused")

    def resume(self, actor: Principal, schedule_id: str) -> ScheduleInfo:
        """Resume a paused schedule."""
        return self._act(actor, schedule_id, "resumed")

    def trigger(self, actor: Principal, schedule_id: str) -> ScheduleInfo:
        """Fire a schedule once, now."""
        return self._act(actor, schedule_id, "triggered")

    def delete(self, actor: Principal, schedule_id: str) -> ScheduleInfo:
        """Delete a schedule (in Temporal and in the store)."""
        return self._act(actor, schedule_id, "deleted")
