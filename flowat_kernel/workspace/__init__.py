"""The one door: :class:`Workspace` owns every use case, for one principal.

Layers above (the Python API, magics, CLI, REST API, triggers, papermill engine) build
or receive a workspace and call its methods; layers below receive the services they use.
See ``docs/architecture.md``.
"""

from flowat_kernel.engine.launch import UNCLAIMED_SECONDS, ProgressCallback, WorkerMode
from flowat_kernel.workspace.principals import API_KEY_VARIABLE, resolve_principal
from flowat_kernel.workspace.published import Published
from flowat_kernel.workspace.services import Services
from flowat_kernel.workspace.workspace import Workspace, compile_workflow

__all__ = [
    "API_KEY_VARIABLE",
    "UNCLAIMED_SECONDS",
    "ProgressCallback",
    "Published",
    "Services",
    "WorkerMode",
    "Workspace",
    "compile_workflow",
    "resolve_principal",
]
