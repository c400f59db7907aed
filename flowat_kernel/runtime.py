"""The composition root: store, vault, artifacts, events, Temporal client and worker.

:class:`Runtime` wires FlowAt's services together at the top; every layer below
receives what it uses (the workspace its :class:`~flowat_kernel.workspace.Services`,
engine functions their :class:`~flowat_kernel.engine.services.EngineServices`, step code
its scope's :class:`~flowat_kernel.step_context.StepServices`). Only the faces (Python
API, magics, CLI, REST server) call :func:`get_runtime`.

Everything is created lazily, so ``import flowat_kernel`` and ``%load_ext`` stay fast.
Synchronous callers use :meth:`Runtime.call`; the Temporal client and any worker live
on one background event loop.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import sys
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from flowat_kernel.config import Settings, secure_home, settings
from flowat_kernel.loop import BackgroundLoop

if TYPE_CHECKING:
    from temporalio.client import Client

    from flowat_kernel.analytics.writer import EventWriter
    from flowat_kernel.engine.artifacts import ArtifactStore
    from flowat_kernel.engine.process_worker import ProcessWorker
    from flowat_kernel.engine.worker import WorkerOptions
    from flowat_kernel.sdk.breaker import CircuitBreakers
    from flowat_kernel.step_context import StepServices
    from flowat_kernel.store import Store
    from flowat_kernel.vault.vault import Vault

__all__ = ["Runtime", "get_runtime", "reset_runtime"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Runtime:
    """Lazily built connections for one set of settings."""

    def __init__(self, config: Settings | None = None) -> None:
        self.settings = config or settings()
        secure_home(self.settings)  # FLOWAT_HOME private (0700) before anything is written
        self._loop: BackgroundLoop | None = None
        self._store: Store | None = None
        self._artifacts: ArtifactStore | None = None
        self._vault: Vault | None = None
        self._breakers: CircuitBreakers | None = None
        self._events: EventWriter | None = None
        self._client: Client | None = None
        self._workers: dict[str, ProcessWorker] = {}
        self._local_queue: str | None = None
        self._step_services: StepServices | None = None
        self._lock = threading.Lock()
        self._start_lock: asyncio.Lock | None = None

    # -- synchronous bridge -----------------------------------------------------------

    @property
    def loop(self) -> BackgroundLoop:
        """The background event loop (started on first use)."""
        with self._lock:
            if self._loop is None:
                self._loop = BackgroundLoop()
            return self._loop

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coroutine`` on the background loop and wait for it."""
        return self.loop.run(coroutine, timeout)

    # -- components -------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The metadata store."""
        with self._lock:
            if self._store is None:
                from flowat_kernel.store import Store

                self._store = Store(self.settings.database_url, self.settings.redis_url)
            return self._store

    @property
    def artifacts(self) -> ArtifactStore:
        """The artifact store, in the backend ``FLOWAT_ARTIFACTS_URL`` names.

        Raises:
            ConfigError: ``FLOWAT_ARTIFACTS_URL`` (or its S3 settings) cannot be used.

        """
        if self._artifacts is None:
            from flowat_kernel.engine.artifact_backends import open_backend
            from flowat_kernel.engine.artifacts import ArtifactStore
            from flowat_kernel.vault.artifact_cipher import ArtifactCipher

            backend = open_backend(self.settings, lambda: self.store.engine)
            cipher = ArtifactCipher(self.vault.payload_keys)  # keys loaded on first use
            self._artifacts = ArtifactStore(self.settings.artifacts_dir, cipher, backend)
        return self._artifacts

    @property
    def vault(self) -> Vault:
        """The credential vault (over the metadata store and this home's master keys)."""
        store = self.store
        with self._lock:
            if self._vault is None:
                from flowat_kernel.vault.vault import Vault

                self._vault = Vault(store, self.settings.home, self.settings.owner)
            return self._vault

    @property
    def events(self) -> EventWriter:
        """The analytics event writer of this process (spool files, Parquet by day)."""
        with self._lock:
            if self._events is None:
                from flowat_kernel.analytics.writer import EventWriter

                self._events = EventWriter(self.settings.home / "analytics")
            return self._events

    @property
    def breakers(self) -> CircuitBreakers:
        """The connectors' circuit breakers, shared through the metadata store."""
        store = self.store
        with self._lock:
            if self._breakers is None:
                from flowat_kernel.sdk.breaker import CircuitBreakers

                self._breakers = CircuitBreakers(store, on_open=self._breaker_opened)
            return self._breakers

    def step_services(self) -> StepServices:
        """What code outside a run (a notebook cell) uses: the local user's services."""
        if self._step_services is None:
            from flowat_kernel.sdk.rate_limits import HostRateLimits
            from flowat_kernel.step_context import StepServices
            from flowat_kernel.vault.scoped import OrganizationSecrets

            owner = self.settings.owner
            self._step_services = StepServices(
                owner=owner,
                secrets=OrganizationSecrets(self.vault, owner),
                breakers=self.breakers,
                files_dir=self.artifacts.root / "files",
                rate_limits=HostRateLimits(self.store, owner),
            )
        return self._step_services

    def _breaker_opened(self, connector: str, host: str) -> None:
        from flowat_kernel.analytics.events import event

        self.events.emit(event("breaker_opened", connector=connector, host=host))

    async def client(self) -> Client:
        """The Temporal client (connecting, and starting the embedded server, on first use).

        Its payload codec encrypts everything FlowAt hands to Temporal with the vault's
        payload keys.
        """
        if self._client is None:
            from flowat_kernel.engine.connection import connect
            from flowat_kernel.vault.codec import VaultPayloadCodec

            codec = VaultPayloadCodec(self.vault.payload_keys)
            await asyncio.to_thread(codec.load)
            self._client = await connect(self.settings, codec)
        return self._client

    @property
    def local_queue(self) -> str:
        """The task queue of this process alone: the runs it starts itself execute here."""
        if self._local_queue is None:
            from flowat_kernel.engine.process_worker import local_queue_name

            self._local_queue = local_queue_name(self.settings.task_queue)
        return self._local_queue

    def _polling(self, queue: str) -> bool:
        found = self._workers.get(queue)
        return found is not None and found.running

    @property
    def worker_running(self) -> bool:
        """Whether this process runs a worker on the shared task queue right now."""
        return self._polling(self.settings.task_queue)

    @property
    def local_worker_running(self) -> bool:
        """Whether this process runs a worker on its own task queue right now."""
        return self._local_queue is not None and self._polling(self._local_queue)

    async def ensure_worker(self, only_if_none_polling: bool = False) -> bool:
        """Run a worker on the shared task queue in this process, registered in the store.

        Args:
            only_if_none_polling: start it only when no live worker is registered for
                the shared queue (FlowAt's own registry, not Temporal's poller list).

        Returns:
            Whether a worker of this process polls the shared queue afterwards.

        """
        queue = self.settings.task_queue
        if self._polling(queue):
            return True
        async with self._starting():  # concurrent starts (a burst of requests) build one
            if self._polling(queue):
                return True
            if only_if_none_polling:
                from flowat_kernel.engine.process_worker import LIVE_SECONDS

                live = await asyncio.to_thread(self.store.live_workers, queue, LIVE_SECONDS)
                if live:
                    return False
            started = await self._start_worker(queue)
        await started.register(self.store)
        return True

    async def ensure_workers(self, queues: list[str], options: WorkerOptions) -> list[str]:
        """Run a registered worker on each of ``queues`` with ``options`` (``flowat worker``).

        Returns:
            The queues this process polls now, in the order given.

        """
        for queue in queues:
            async with self._starting():
                if self._polling(queue):
                    continue
                started = await self._start_worker(queue, options)
            await started.register(self.store, options.name)
        return [queue for queue in queues if self._polling(queue)]

    async def ensure_local_worker(self) -> str:
        """Run a worker on this process's own task queue; returns the queue."""
        queue = self.local_queue
        if not self._polling(queue):
            async with self._starting():
                if not self._polling(queue):
                    await self._start_worker(queue)
        return queue

    def _starting(self) -> asyncio.Lock:
        """The lock that makes starting a worker one at a time (on the background loop)."""
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        return self._start_lock

    async def _start_worker(
        self, queue: str, options: WorkerOptions | None = None
    ) -> ProcessWorker:
        from flowat_kernel.engine.alert_activities import provide_handler_starter
        from flowat_kernel.engine.process_worker import ProcessWorker
        from flowat_kernel.engine.worker import build_worker
        from flowat_kernel.workspace.error_handler import start_error_handler

        provide_handler_starter(lambda *args: start_error_handler(self, *args))
        client = await self.client()
        worker, executor = build_worker(
            client,
            queue,
            self.store,
            self.artifacts,
            self.vault,
            events=self.events,
            breakers=self.breakers,
            options=options,
        )
        task = asyncio.get_running_loop().create_task(worker.run())
        self._workers[queue] = running = ProcessWorker(queue, worker, executor, task)
        return running

    async def stop_worker(self) -> None:
        """Shut down this process's workers, letting running steps finish."""
        workers, self._workers = list(self._workers.values()), {}
        for running in workers:
            await running.stop()

    def close(self) -> None:
        """Stop the workers (steps, and triggers if started), close connections and the loop."""
        if self._loop is not None:
            triggers = sys.modules.get("flowat_kernel.triggers.worker")
            if triggers is not None:  # a schedule launcher polls too: stop it first
                with contextlib.suppress(Exception):
                    triggers.stop_trigger_worker(self)
            with contextlib.suppress(Exception):
                self.call(self.stop_worker(), timeout=30)
            self._loop.stop()
            self._loop = None
        if self._store is not None:
            self._store.close()
            self._store = None
        self._vault = None
        self._breakers = None
        self._step_services = None
        if self._events is not None:
            self._events.close()
            self._events = None
        self._client = None


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()
_exit_hook = False


def get_runtime() -> Runtime:
    """The process-wide runtime for the current settings.

    It is closed when the interpreter shuts down, before thread pools refuse new work,
    so an in-process worker stops cleanly instead of failing its last evictions.
    """
    global _runtime, _exit_hook
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime()
            if not _exit_hook:
                # threading runs its exit hooks last registered, first run: concurrent
                # futures' own hook (which refuses new work in every pool) must be
                # registered before ours, so that ours closes the workers first.
                import concurrent.futures.thread  # noqa: F401

                register = getattr(threading, "_register_atexit", atexit.register)
                register(reset_runtime)
                _exit_hook = True
        return _runtime


def reset_runtime() -> None:
    """Close the process-wide runtime; the next call builds one from fresh settings."""
    global _runtime
    with _runtime_lock:
        current, _runtime = _runtime, None
    if current is not None:
        current.close()
