"""One Temporal worker a process runs, and (for a shared queue) its registration.

A process runs at most two: one on its own task queue, for the runs it started itself
(a notebook, the CLI, a script, papermill), and one on the shared task queue that
schedules, webhooks and the REST API use. A worker on the shared queue registers in
the metadata store and heartbeats there, so other processes know it is alive without
asking Temporal's poller list (which lists a stopped worker for about a minute).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from flowat_kernel.errors import StoreError
from flowat_kernel.store import Store

__all__ = ["HEARTBEAT_SECONDS", "LIVE_SECONDS", "ProcessWorker", "local_queue_name"]

log = logging.getLogger(__name__)

#: How often a registered worker says it is alive, and how long it counts as alive after.
HEARTBEAT_SECONDS = 5.0
LIVE_SECONDS = 20.0


def local_queue_name(shared: str) -> str:
    """A task queue of this process's own: ``SHARED.local.HOST.PID.RANDOM``."""
    host = socket.gethostname().replace(".", "-")[:60]
    return f"{shared}.local.{host}.{os.getpid()}.{uuid.uuid4().hex[:8]}"


@dataclass
class ProcessWorker:
    """A running worker: its task, thread pool and (when registered) its heartbeat."""

    task_queue: str
    worker: Any
    executor: ThreadPoolExecutor
    task: asyncio.Task[None]
    store: Store | None = None
    worker_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    heartbeat: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether it still polls."""
        return not self.task.done()

    async def register(self, store: Store, name: str | None = None) -> None:
        """Record it in the store and heartbeat until it stops.

        ``name`` (``flowat worker --name``) is recorded as its host, after the host's
        own name: ``HOST/NAME``.
        """
        self.store = store
        host = socket.gethostname()
        await asyncio.to_thread(
            store.register_worker,
            self.worker_id,
            self.task_queue,
            f"{host}/{name}"[:255] if name else host,
            os.getpid(),
        )
        self.heartbeat = asyncio.get_running_loop().create_task(self._beat(store))

    async def _beat(self, store: Store) -> None:
        while self.running:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await asyncio.to_thread(store.worker_seen, self.worker_id)
            except StoreError as exc:  # the store is down: the worker goes on polling
                log.warning("worker heartbeat not recorded: %s", exc)

    async def stop(self) -> None:
        """Stop polling (running steps finish first) and leave the registry."""
        if self.heartbeat is not None:
            self.heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.heartbeat
        if not self.task.done():
            await self.worker.shutdown()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await self.task
        self.executor.shutdown(wait=False)
        if self.store is not None:
            with contextlib.suppress(StoreError):
                await asyncio.to_thread(self.store.remove_worker, self.worker_id)
