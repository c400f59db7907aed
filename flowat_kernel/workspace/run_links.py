"""Where a run can be looked at outside FlowAt: its workflow page in Temporal's Web UI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.store import RunRecord
    from flowat_kernel.workspace.services import Services

__all__ = ["RunLinkUseCases", "temporal_ui_url"]


def temporal_ui_url(services: Services) -> str | None:
    """The Temporal Web UI's address: the embedded dev server's UI while it runs.

    ``None`` with an external Temporal (``FLOWAT_TEMPORAL_ADDRESS``), whose UI FlowAt
    does not know, or when the embedded server is not running.
    """
    from flowat_kernel.engine import devserver

    settings = services.settings
    if settings.temporal_address:
        return None
    server = devserver.status(settings.temporal_dir)
    return server.ui_url if server is not None else None


class RunLinkUseCases:
    """Links to a run the principal may see (found by its full or short id)."""

    services: Services
    principal: Principal

    if TYPE_CHECKING:  # provided by the Workspace

        def record(self, run_id: str) -> RunRecord:
            """A visible run's record, by its full or short id."""
            ...

    def temporal_link(self, run_id: str) -> dict[str, Any]:
        """The run's Temporal workflow id and namespace, and its page in the Web UI.

        ``ui_url`` and ``url`` are ``None`` when the UI's address is not known (an
        external Temporal, or the embedded server not running); ``reason`` says why.
        """
        record = self.record(run_id)
        self.principal.require("runs:read", record.workflow)
        namespace = self.services.settings.temporal_namespace
        workflow_id = record.temporal_workflow_id
        ui = temporal_ui_url(self.services)
        link: dict[str, Any] = {
            "run_id": record.run_id,
            "workflow_id": workflow_id,
            "namespace": namespace,
            "ui_url": ui,
            "url": None,
            "reason": None,
        }
        if ui is None:
            link["reason"] = (
                "Temporal's Web UI address is not known: FlowAt uses an external Temporal "
                "(FLOWAT_TEMPORAL_ADDRESS)"
                if self.services.settings.temporal_address
                else "the embedded Temporal server is not running (`flowat server start`)"
            )
        elif workflow_id:
            page = f"namespaces/{quote(namespace, safe='')}/workflows/{quote(workflow_id, safe='')}"
            link["url"] = f"{ui}/{page}"
        else:
            link["reason"] = "the run has not reached Temporal yet"
        return link
