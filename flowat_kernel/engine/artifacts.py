"""The artifact store: large or non-JSON values written to files and passed by reference.

Tables go to Parquet, arrays to ``.npy`` (never with pickled objects), bytes as they
are, anything else through cloudpickle. Every file is sealed (AES-256-GCM under a
vault key, bound to its reference: :mod:`flowat_kernel.vault.artifact_cipher`), so a
file that was altered, copied from another run, planted or forged fails with
:class:`~flowat_kernel.errors.VaultAuthenticationError` before anything in it is parsed,
and nothing is unpickled unless it authenticated.

References are relative paths under the store's root (no ``..``, no absolute path, no
hidden name), checked before any backend sees them. The sealed bytes live in a backend
chosen by ``FLOWAT_ARTIFACTS_URL`` (:mod:`flowat_kernel.engine.artifact_backends`): the
home's folder by default (opened one folder at a time without following symbolic links;
folders 0700, files 0600, written atomically), PostgreSQL chunk rows, or S3 objects.
Every backend makes an artifact visible only once it is complete and streams it in and
out, and the sealing is the same on all of them.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict

from flowat_kernel.engine.artifact_backends import ArtifactBackend, LocalBackend
from flowat_kernel.errors import FlowAtError, VaultAuthenticationError
from flowat_kernel.vault.artifact_cipher import ArtifactCipher

__all__ = ["ArtifactRef", "ArtifactStore", "check_reference"]

ArtifactFormat = Literal["parquet", "npy", "bytes", "pickle"]

_SUFFIX: dict[str, str] = {"parquet": ".parquet", "npy": ".npy", "bytes": ".bin", "pickle": ".pkl"}
_MAX_REFERENCE = 1024
#: What ``put`` seals: buffers in order, or a function writing the content to a stream.
Payload = list[bytes | memoryview] | Callable[[IO[bytes]], object]


class ArtifactRef(BaseModel):
    """Where a stored value lives and what it is, small enough for Temporal history."""

    model_config = ConfigDict(frozen=True)

    path: str
    format: ArtifactFormat
    size_bytes: int
    description: str


def _parts(path: object) -> list[str] | None:
    """The folder names and file name of a relative reference, or ``None`` if invalid."""
    if not isinstance(path, str) or not path or len(path) > _MAX_REFERENCE:
        return None
    if "\\" in path or "\x00" in path or path.startswith("/"):
        return None
    parts = path.split("/")
    if any(not part or part.startswith(".") for part in parts):
        return None  # empty, ".", ".." and hidden (temporary) names
    return parts


def check_reference(path: object, fmt: str) -> list[str]:
    """Validate an artifact reference: relative, under the root, suffix matching ``fmt``.

    Returns:
        Its folder names and file name.

    Raises:
        VaultAuthenticationError: the reference is forged (absolute, ``..``, hidden
            names, a wrong suffix); nothing was opened.

    """
    parts = _parts(path)
    suffix = _SUFFIX.get(fmt)
    if parts is None or suffix is None or not parts[-1].endswith(suffix):
        raise VaultAuthenticationError(
            f"artifact reference {str(path)[:200]!r} is not valid: a reference is a relative "
            "path under the artifact store (no '..', no absolute path, no hidden name) ending "
            "in its format's suffix; this one was forged or damaged and nothing was opened"
        )
    return parts


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
    """Sealed artifacts in a backend (``FLOWAT_HOME/artifacts`` by default).

    Args:
        root: the home's artifacts folder (also the ``files`` connector's ``artifacts``
            folder's parent); the backend when none is given.
        cipher: seals and opens the artifacts with the vault's keys.
        backend: where the sealed bytes live (see
            :mod:`flowat_kernel.engine.artifact_backends`); a :class:`LocalBackend` over
            ``root`` when omitted.

    """

    def __init__(self, root: Path, cipher: ArtifactCipher, backend: ArtifactBackend | None = None):
        self.root = root
        self.cipher = cipher
        self.backend: ArtifactBackend = backend if backend is not None else LocalBackend(root)

    def _write(self, parts: list[str], fmt: str, payload: Payload) -> int:
        relative = "/".join(parts)

        def fill(out: IO[bytes]) -> None:
            with self.cipher.sealing(out, relative, fmt) as sealed:
                if callable(payload):
                    payload(sealed)
                else:
                    for part in payload:
                        sealed.write(part)

        return self.backend.write(relative, fill)

    def put(self, folder: str, name: str, value: Any) -> ArtifactRef:
        """Store ``value`` sealed under ``folder/name`` and return its reference.

        Raises:
            FlowAtError: the value cannot be stored (not picklable, or a name that is
                not a plain file name).

        """
        description = _describe(value)
        fmt: ArtifactFormat
        module = type(value).__module__.split(".")[0]
        parts: Payload
        if module == "pandas" and type(value).__name__ == "DataFrame" and _parquet_ok(value):
            fmt = "parquet"
            parts = value.to_parquet  # streamed through the cipher into the backend
        elif module == "numpy" and type(value).__name__ == "ndarray" and not value.dtype.hasobject:
            fmt = "npy"
            parts = _npy_parts(value)
        elif isinstance(value, bytes | bytearray):
            fmt = "bytes"
            parts = [memoryview(value)]
        else:
            import cloudpickle

            try:
                parts = [cloudpickle.dumps(value)]
            except Exception as exc:
                raise FlowAtError(
                    f"cannot pass {name!r} ({description}) to later steps: it cannot be pickled "
                    f"({exc.__class__.__name__}: {exc}); export plain data instead, or give it a "
                    "name starting with _ to keep it private to the step"
                ) from exc
            fmt = "pickle"
        relative = f"{folder}/{name}{_SUFFIX[fmt]}"
        path = _parts(relative)
        if path is None:
            raise FlowAtError(
                f"cannot store {name!r} as an artifact at {relative!r}: folder and name must be "
                "plain relative names (no '..', no leading '.' or '/')"
            )
        size = self._write(path, fmt, parts)
        return ArtifactRef(path=relative, format=fmt, size_bytes=size, description=description)

    def _read(self, ref: ArtifactRef) -> bytearray:
        check_reference(ref.path, ref.format)
        try:
            with self.backend.open(ref.path) as (handle, size):
                return self.cipher.open(handle, size, ref.path, ref.format)
        except FileNotFoundError:
            raise FlowAtError(
                f"artifact {ref.path} ({ref.description}) is missing from "
                f"{self.backend.location}; was FLOWAT_HOME or FLOWAT_ARTIFACTS_URL changed, "
                "or the artifact removed?"
            ) from None

    def get(self, ref: ArtifactRef) -> Any:
        """Load the value ``ref`` points at, once its file authenticated.

        Raises:
            VaultAuthenticationError: the reference is forged or the file was altered,
                swapped, planted or sealed with a key this vault does not hold; nothing
                in it was parsed or unpickled.
            FlowAtError: the file is gone (for example, removed by retention).

        """
        plaintext = self._read(ref)
        if ref.format == "parquet":
            import pandas as pd
            import pyarrow as pa

            return pd.read_parquet(pa.BufferReader(pa.py_buffer(plaintext)))
        if ref.format == "npy":
            return _load_npy(plaintext)
        if ref.format == "bytes":
            return bytes(plaintext)
        import cloudpickle

        return cloudpickle.loads(plaintext)  # authenticated above: FlowAt wrote it

    def delete(self, ref: ArtifactRef | str) -> bool:
        """Remove one artifact (by its reference or its path); whether it was stored.

        Raises:
            VaultAuthenticationError: the reference is forged (nothing was removed).

        """
        path = ref.path if isinstance(ref, ArtifactRef) else ref
        if _parts(path) is None:
            check_reference(path, "")  # raises: not a reference
        return self.backend.delete(path)

    # -- deleting a run's artifacts (retention, ``flowat runs delete``) -----------------

    def delete_run(self, run_id: str) -> int:
        """Remove every artifact run ``run_id`` wrote (``runs/RUN_ID/...``); idempotent.

        Works the same on every backend: the local folder is removed through descriptors
        opened without following links (a link planted in it removes nothing outside
        the store), the database's rows in one transaction, the bucket's objects by
        prefix. Returns the number of artifacts removed (0 when the run wrote none or
        they are gone already, e.g. another deleter was first).

        Raises:
            FlowAtError: ``run_id`` is not a plain name.

        """
        if _parts(run_id) != [run_id]:
            raise FlowAtError(f"not a run id: {run_id[:80]!r}")
        return self.backend.delete_folder(f"runs/{run_id}")

    def run_ids(self) -> list[str]:
        """Ids of the runs that have artifacts here (to find those of deleted runs)."""
        return sorted(self.backend.folders("runs"))


def _npy_parts(value: Any) -> list[bytes | memoryview]:
    """An array as ``.npy`` (no pickle): its header, then its own memory when contiguous."""
    import numpy as np
    from numpy.lib import format as npy

    buffer = io.BytesIO()
    if not (value.flags.c_contiguous or value.flags.f_contiguous) or value.dtype.itemsize == 0:
        np.save(buffer, value, allow_pickle=False)
        return [buffer.getbuffer()]
    header = npy.header_data_from_array_1_0(value)
    try:
        npy.write_array_header_1_0(buffer, header)
    except ValueError:  # a header over 64 KiB (a very wide structured dtype)
        buffer = io.BytesIO()
        npy.write_array_header_2_0(buffer, header)
    flat = value.T if header["fortran_order"] else value
    return [buffer.getvalue(), memoryview(flat.reshape(-1).view(np.uint8))]


def _load_npy(plaintext: bytearray) -> Any:
    """An ``.npy`` array over the decrypted buffer itself (no copy); never with objects."""
    import numpy as np
    from numpy.lib import format as npy

    head = io.BytesIO(bytes(memoryview(plaintext)[: 1 << 16]))
    version = npy.read_magic(head)
    if version not in ((1, 0), (2, 0)):  # a UTF-8 header (3.0): numpy's own reader
        return np.load(io.BytesIO(plaintext), allow_pickle=False)
    read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
    shape, fortran, dtype = read_header(head)
    if dtype.hasobject:
        raise FlowAtError("an .npy artifact holds Python objects, which are never loaded")
    count = 1
    for n in shape:
        count *= n
    array = np.frombuffer(plaintext, dtype=dtype, count=count, offset=head.tell())
    return array.reshape(shape[::-1]).transpose() if fortran else array.reshape(shape)


def _parquet_ok(frame: Any) -> bool:
    columns = list(frame.columns)
    return all(isinstance(c, str) for c in columns) and len(set(columns)) == len(columns)
