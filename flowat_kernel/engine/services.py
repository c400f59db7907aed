"""The services engine functions receive: store, vault, events, settings, Temporal client.

The composition root (:class:`~flowat_kernel.runtime.Runtime`) provides them; engine
code never looks them up.
"""

from __future__ import annotations

from collections.abc import Coroutine
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from temporalio.client import Client

    from flowat_kernel.analytics.writer import EventWriter
    from flowat_kernel.config import Settings
    from flowat_kernel.store import Store
    from flowat_kernel.vault.vault import Vault

__all__ = ["EngineServices", "LaunchServices", "Loop"]

T = TypeVar("T")


class EngineServices(Protocol):
    """What starting, controlling and reading runs on Temporal uses."""

    settings: Settings

    @property
    def store(self) -> Store:
        """The metadata store."""
        ...

    @property
    def vault(self) -> Vault:
        """The credential vault (its payload keys decode histories)."""
        ...

    @property
    def events(self) -> EventWriter:
        """The analytics event writer."""
        ...

    async def client(self) -> Client:
        """The Temporal client (connecting on first use)."""
        ...


class Loop(Protocol):
    """The background event loop that Temporal calls run on."""

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule ``coroutine``; return a future of its result."""
        ...


class LaunchServices(EngineServices, Protocol):
    """What starting and waiting for runs from synchronous code uses, in addition."""

    @property
    def loop(self) -> Loop:
        """The background loop."""
        ...

    @property
    def worker_running(self) -> bool:
        """Whether this process runs a worker now."""
        ...

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coroutine`` on the background loop and wait for it."""
        ...

    async def ensure_worker(self, only_if_none_polling: bool = False) -> bool:
        """Run a worker on the shared task queue here (unless a live one is registered)."""
        ...

    async def ensure_local_worker(self) -> str:
        """Run a worker on this process's own task queue; returns that queue."""
        ...
