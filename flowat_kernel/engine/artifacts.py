"""The artifact store: large or non-JSON values written to files and passed by reference.

Tables go to Parquet, arrays to ``.npy``, bytes as they are, anything else through
cloudpickle. Files are written atomically (temporary name, then rename), so a reader
never sees half a value.
"""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from flowat_kernel.errors import FlowAtError

__all__ = ["ArtifactRef", "ArtifactStore"]

ArtifactFormat = Literal["parquet", "npy", "bytes", "pickle"]


class ArtifactRef(BaseModel):
    """Where a stored value lives and what it is, small enough for Temporal history."""

    model_config = ConfigDict(frozen=True)

    path: str
    format: ArtifactFormat
    size_bytes: int
    description: str


def _describe(value: Any) -> str:
    module = type(value).__module__
    name = type(value).__name__
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{name} {'x'.join(str(n) for n in shape)}"
    if isinstance(value, bytes | bytearray):
        return f"{name} of {len(value)} bytes"
    if module == "builtins" and hasattr(value, "__len__"):
        return f"{name} of {len(value)} items"
    return name


class ArtifactStore:
    """A folder of artifacts (``FLOWAT_HOME/artifacts`` by default)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _write(self, relative: str, payload: bytes | None, writer: Any = None) -> int:
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            if writer is not None:
                writer(temporary)
            else:
                assert payload is not None
                temporary.write_bytes(payload)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        return target.stat().st_size

    def put(self, folder: str, name: str, value: Any) -> ArtifactRef:
        """Store ``value`` under ``folder/name`` and return its reference."""
        description = _describe(value)
        fmt: ArtifactFormat
        module = type(value).__module__.split(".")[0]
        if module == "pandas" and type(value).__name__ == "DataFrame" and _parquet_ok(value):
            fmt, relative = "parquet", f"{folder}/{name}.parquet"
            size = self._write(relative, None, lambda p: value.to_parquet(p))
        elif module == "numpy" and type(value).__name__ == "ndarray" and value.dtype != object:
            import numpy as np

            buffer = io.BytesIO()
            np.save(buffer, value, allow_pickle=False)
            fmt, relative = "npy", f"{folder}/{name}.npy"
            size = self._write(relative, buffer.getvalue())
        elif isinstance(value, bytes | bytearray):
            fmt, relative = "bytes", f"{folder}/{name}.bin"
            size = self._write(relative, bytes(value))
        else:
            import cloudpickle

            try:
                payload = cloudpickle.dumps(value)
            except Exception as exc:
                raise FlowAtError(
                    f"cannot pass {name!r} ({description}) to later steps: it cannot be pickled "
                    f"({exc.__class__.__name__}: {exc}); export plain data instead, or give it a "
                    "name starting with _ to keep it private to the step"
                ) from exc
            fmt, relative = "pickle", f"{folder}/{name}.pkl"
            size = self._write(relative, payload)
        return ArtifactRef(path=relative, format=fmt, size_bytes=size, description=description)

    def get(self, ref: ArtifactRef) -> Any:
        """Load the value ``ref`` points at.

        Raises:
            FlowAtError: the file is gone (for example, removed by retention).

        """
        path = self.root / ref.path
        if not path.is_file():
            raise FlowAtError(
                f"artifact {ref.path} ({ref.description}) is missing from {self.root}; "
                "was FLOWAT_HOME changed or the artifact removed?"
            )
        if ref.format == "parquet":
            import pandas as pd

            return pd.read_parquet(path)
        if ref.format == "npy":
            import numpy as np

            return np.load(path, allow_pickle=False)
        if ref.format == "bytes":
            return path.read_bytes()
        import cloudpickle

        with path.open("rb") as handle:
            return cloudpickle.load(handle)


def _parquet_ok(frame: Any) -> bool:
    columns = list(frame.columns)
    return all(isinstance(c, str) for c in columns) and len(set(columns)) == len(columns)
