"""FlowAt as a papermill engine: ``papermill --engine flowat in.ipynb out.ipynb -p k v``.

``FlowAtEngine`` is loaded on first use (install ``papermill`` to use it). papermill
registers its engines through entry points while it is imported, which loads this
engine; so papermill is always imported first, whichever of the two a program imports
first, and the engine's module never sees itself half-initialised.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FlowAtEngine"]


def __getattr__(name: str) -> Any:
    if name == "FlowAtEngine":
        import papermill  # noqa: F401  (registers engines, this one included)

        from flowat_kernel.papermill._engine import FlowAtEngine

        return FlowAtEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
