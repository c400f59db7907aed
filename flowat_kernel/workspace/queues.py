"""The workspace's view of task queues: backlog, pollers and oldest task (``flowat queues``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.engine.queue_report import QueueStatus
    from flowat_kernel.workspace.services import Services

__all__ = ["QueueUseCases"]


class QueueUseCases:
    """Task queues as autoscaling and operators see them."""

    services: Services
    principal: Principal

    def queues(self, names: list[str] | None = None) -> list[QueueStatus]:
        """Each task queue's backlog, pollers and age of its oldest task.

        Args:
            names: the queues to report; ``None``: the shared queue and every queue a
                registered ``flowat worker`` polls now.

        Any member may read it (``runs:read``): the figures are counts and worker
        names, never a run's content.

        Raises:
            Forbidden: the principal may not read runs.
            SpecError: a name is not a valid task queue name.
            TemporalUnavailable: Temporal did not answer.

        """
        from flowat_kernel.engine.queue_report import describe_queues
        from flowat_kernel.spec.model import queue_name
        from flowat_kernel.store.gauges import worker_queues

        self.principal.require("runs:read")
        if names:
            chosen = [queue_name(name, "queue") for name in names]
        else:
            shared = self.services.settings.task_queue
            chosen = [shared, *sorted(set(worker_queues(self.services.store)) - {shared})]
        chosen = list(dict.fromkeys(chosen))

        async def report() -> list[QueueStatus]:
            return await describe_queues(await self.services.client(), chosen)

        return self.services.call(report())
