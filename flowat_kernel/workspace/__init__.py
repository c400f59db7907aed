"""The one door: :class:`Workspace` owns every use case, for one principal.

Layers above (the Python API, magics, CLI, REST API, triggers, papermill engine) build
or receive a workspace and call its methods; layers below receive the services they use.
See ``docs/architecture.md``. Names load on first use, so that importing the workspace
does not import the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowat_kernel.lazy import lazy_getattr

if TYPE_CHECKING:
    from flowat_kernel.workspace.principals import API_KEY_VARIABLE, resolve_principal
    from flowat_kernel.workspace.published import Published
    from flowat_kernel.workspace.services import Services
    from flowat_kernel.workspace.workspace import Workspace, compile_workflow

__all__ = [
    "API_KEY_VARIABLE",
    "Published",
    "Services",
    "Workspace",
    "compile_workflow",
    "resolve_principal",
]

__getattr__ = lazy_getattr(
    __name__,
    {
        "API_KEY_VARIABLE": "flowat_kernel.workspace.principals",
        "resolve_principal": "flowat_kernel.workspace.principals",
        "Published": "flowat_kernel.workspace.published",
        "Services": "flowat_kernel.workspace.services",
        "Workspace": "flowat_kernel.workspace.workspace",
        "compile_workflow": "flowat_kernel.workspace.workspace",
    },
    globals(),
)
