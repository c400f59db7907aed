"""What a workspace needs from the process: the services the composition root wires.

:class:`~flowat_kernel.runtime.Runtime` provides them; the workspace and everything
below it receive them instead of looking them up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from flowat_kernel.engine.services import LaunchServices

if TYPE_CHECKING:
    from flowat_kernel.engine.artifacts import ArtifactStore

__all__ = ["Services"]


class Services(LaunchServices, Protocol):
    """Store, vault, artifacts, events, the Temporal client and this process's worker."""

    @property
    def artifacts(self) -> ArtifactStore:
        """The artifact store."""
        ...
