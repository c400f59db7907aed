"""Starting an error-handler workflow for a run that set off a ``workflow`` alert."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowat_kernel.workspace.services import Services

__all__ = ["HANDLER_USER", "start_error_handler"]

#: Who an error-handler run is started as (an Editor of the failed run's organization).
HANDLER_USER = "flowat-alerts"


def start_error_handler(
    services: Services, owner: str, workflow: str, payload: dict[str, Any], delivery: str
) -> str:
    """Start ``workflow`` as the error handler of a run of organization ``owner``.

    Acts through the Workspace as an Editor of ``owner``; the handler gets those of
    ``run_id``, ``workflow``, ``version``, ``step``, ``error``, ``error_type``,
    ``error_message``, ``parameters``, ``event`` and ``alert_delivery`` that it declares
    as parameters. Returns the handler's run id.
    """
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.access.roles import Role
    from flowat_kernel.workspace.workspace import Workspace

    door = Workspace(services, Principal(HANDLER_USER, owner, Role.EDITOR, via="alert"))
    declared = {i.name for i in door.version(workflow).spec.inputs}
    error = payload.get("error") or {}
    values = {
        **payload,
        "error_type": error.get("type", ""),
        "error_message": error.get("message", ""),
        "alert_delivery": delivery,
    }
    given = {k: v for k, v in values.items() if k in declared}
    return door.start(workflow, parameters=given, trigger="alert", worker="shared").run_id
