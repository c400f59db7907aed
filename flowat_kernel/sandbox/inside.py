"""What sandboxed code sees as ``flowat``: secret handles, its step, idempotency keys.

Inside the sandbox there is no vault, store or Temporal. ``flowat.secret(NAME).reveal()``
returns the value the parent passed in for a secret named with ``--secret NAME`` on the
step, and fails for any other name. ``flowat.current_step()`` and
``flowat.idempotency_key()`` behave as in a worker. ``import flowat_kernel`` also works
inside: its secret handles are switched to the same rule (:func:`install`).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["GuestHandle", "GuestStep", "SecretNotAllowed", "build_module", "install"]


class SecretNotAllowed(PermissionError):
    """The sandboxed step asked for a secret it was not given."""

    retryable = False


_secrets: dict[str, str] = {}
_revealed: set[str] = set()
_step: GuestStep | None = None


@dataclass(frozen=True)
class GuestStep:
    """The running step, as ``flowat.current_step()`` shows it."""

    run_id: str | None
    workflow: str | None
    step: str | None
    attempt: int
    owner: str | None


def reveal(name: str) -> str:
    """The value of secret ``name`` if the step was given it.

    Raises:
        SecretNotAllowed: the step's ``%%flowat step`` line does not name it with
            ``--secret``.

    """
    if name not in _secrets:
        raise SecretNotAllowed(
            f"secret {name!r} is not available to this sandboxed step; add "
            f"--secret {name} to its %%flowat step line (only secrets named there reach "
            "untrusted code)"
        )
    _revealed.add(name)
    return _secrets[name]


class GuestHandle:
    """A handle on a secret inside the sandbox; shows its name only, like the real one."""

    __slots__ = ("name",)
    name: str

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "name", name)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("secret handles are immutable")

    def reveal(self) -> str:
        """The secret's value (see :func:`reveal`)."""
        return reveal(self.name)

    def __repr__(self) -> str:
        return f"flowat.secret({self.name!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return getattr(other, "name", None) == self.name and hasattr(other, "reveal")

    def __hash__(self) -> int:
        return hash(("flowat.secret", self.name))


def current_step() -> GuestStep | None:
    """The running step."""
    return _step


def idempotency_key(purpose: str = "") -> str:
    """The same key on every attempt of this step in this run (as in a worker)."""
    suffix = f":{purpose}" if purpose else ""
    if _step is None or _step.run_id is None:
        return f"flowat:sandbox:{_step.step if _step else ''}{suffix}"
    return f"flowat:{_step.run_id}:{_step.step}{suffix}"


class _PatchHandles(importlib.abc.MetaPathFinder):
    """Makes ``flowat_kernel.vault.handles.reveal`` answer from the sandbox's secrets."""

    target = "flowat_kernel.vault.handles"

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.target:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: types.ModuleType) -> None:
            original(module)
            module.reveal = reveal  # type: ignore[attr-defined]

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install(secrets: dict[str, str], step: GuestStep) -> None:
    """Give this process its secrets and step; patch FlowAt's real handles if imported."""
    _secrets.clear()
    _secrets.update(secrets)
    global _step
    _step = step
    handles = sys.modules.get(_PatchHandles.target)
    if handles is not None:
        handles.reveal = reveal  # type: ignore[attr-defined]
    sys.meta_path.insert(0, _PatchHandles())


def revealed() -> list[str]:
    """Names revealed so far."""
    return sorted(_revealed)


def build_module() -> types.ModuleType:
    """The ``flowat`` object bound in the step's namespace."""
    module = types.ModuleType("flowat", "FlowAt inside a sandboxed step.")
    module.secret = GuestHandle  # type: ignore[attr-defined]
    module.SecretHandle = GuestHandle  # type: ignore[attr-defined]
    module.SecretNotAllowed = SecretNotAllowed  # type: ignore[attr-defined]
    module.current_step = current_step  # type: ignore[attr-defined]
    module.idempotency_key = idempotency_key  # type: ignore[attr-defined]
    return module
