"""Values between steps: JSON inline when small, a reference to the artifact store otherwise."""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import BaseModel, ConfigDict

from flowat_kernel.engine.artifacts import ArtifactRef, ArtifactStore

__all__ = ["INLINE_LIMIT_BYTES", "Value", "decode", "describe", "encode", "is_plain_json"]

#: Values whose JSON is larger than this travel by reference, never in Temporal history.
INLINE_LIMIT_BYTES = 256 * 1024


class Value(BaseModel):
    """One exported value: ``inline`` JSON, or ``ref`` to a stored artifact.

    ``secrets`` names the vault secrets whose values the exporting step revealed and
    this value may hold: a step receiving it masks them too, and run records store the
    value masked.
    """

    model_config = ConfigDict(frozen=True)

    inline: Any = None
    ref: ArtifactRef | None = None
    secrets: tuple[str, ...] = ()
    handle: str | None = None
    outputs: dict[str, dict[str, Value]] | None = None
    items: list[Value] | None = None

    @classmethod
    def of_run(cls, outputs: dict[str, dict[str, Value]]) -> Value:
        """A sub-workflow's outputs (step to name to value) as one value, refs kept."""
        secrets = sorted(
            {n for values in outputs.values() for v in values.values() for n in v.secrets}
        )
        return cls(outputs=outputs, secrets=tuple(secrets))

    @classmethod
    def of_items(cls, values: list[Value]) -> Value:
        """A ``--foreach`` step's per-item values as one list value.

        Inline JSON when every item is; otherwise the items keep their own form, refs
        included.
        """
        secrets = tuple(sorted({n for v in values for n in v.secrets}))
        if all(v.is_plain for v in values):
            return cls(inline=[v.inline for v in values], secrets=secrets)
        return cls(items=values, secrets=secrets)

    @property
    def is_plain(self) -> bool:
        """Whether the value is inline JSON (not a reference, handle or nested outputs)."""
        return (
            self.ref is None and self.handle is None and self.outputs is None and self.items is None
        )


def is_plain_json(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` survives a JSON round trip unchanged (types included)."""
    if depth > 64:
        return False
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if type(value) is list:
        return all(is_plain_json(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(isinstance(k, str) and is_plain_json(v, depth + 1) for k, v in value.items())
    return False


def encode(value: Any, artifacts: ArtifactStore, folder: str, name: str) -> Value:
    """Encode ``value``: inline if plain JSON under the limit, else stored as an artifact.

    A secret handle travels as its name alone.
    """
    from flowat_kernel.vault.handles import SecretHandle

    if isinstance(value, SecretHandle):
        return Value(handle=value.name)
    if is_plain_json(value) and len(json.dumps(value)) <= INLINE_LIMIT_BYTES:
        return Value(inline=value)
    return Value(ref=artifacts.put(folder, name, value))


def decode(value: Value, artifacts: ArtifactStore, *, prepared: bool = False) -> Any:
    """Turn an encoded value back into the Python object.

    With ``prepared``, a stored table, array or pickle comes as its opened bytes
    (:class:`~flowat_kernel.engine.artifact_formats.Prepared`), for a step's process to
    load: the worker does not import pandas or numpy for it.
    """
    if value.handle is not None:
        from flowat_kernel.vault.handles import SecretHandle

        return SecretHandle(value.handle)
    if value.outputs is not None:
        return {
            step: {name: decode(v, artifacts) for name, v in values.items()}
            for step, values in value.outputs.items()
        }
    if value.items is not None:
        return [decode(v, artifacts) for v in value.items]
    if value.ref is None:
        return value.inline
    return artifacts.prepared(value.ref) if prepared else artifacts.get(value.ref)


def describe(value: Value) -> Any:
    """What people see of a value: the JSON itself, or a short note on the reference."""
    if value.handle is not None:
        return {"$secret": value.handle}
    if value.outputs is not None:
        return {
            step: {name: describe(v) for name, v in values.items()}
            for step, values in value.outputs.items()
        }
    if value.items is not None:
        return [describe(v) for v in value.items]
    if value.ref is None:
        return value.inline
    ref = value.ref
    return {
        "artifact": ref.path,
        "format": ref.format,
        "size_bytes": ref.size_bytes,
        "type": ref.description,
    }
