"""The artifact store: large or non-JSON values written to files and passed by reference.

Values become bytes as :mod:`flowat_kernel.engine.artifact_formats` says (Parquet,
``.npy``, bytes, cloudpickle). Every file is sealed (AES-256-GCM under a
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

from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict

from flowat_kernel.engine.artifact_backends import ArtifactBackend, LocalBackend
from flowat_kernel.engine.artifact_formats import (
    SUFFIX,
    ArtifactFormat,
    Payload,
    Prepared,
    describe,
    load,
    payload,
    pickled_payload,
)
from flowat_kernel.errors import FlowAtError, VaultAuthenticationError
from flowat_kernel.vault.artifact_cipher import ArtifactCipher

__all__ = ["ArtifactRef", "ArtifactStore", "check_reference"]

_MAX_REFERENCE = 1024


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
    suffix = SUFFIX.get(fmt)
    if parts is None or suffix is None or not parts[-1].endswith(suffix):
        raise VaultAuthenticationError(
            f"artifact reference {str(path)[:200]!r} is not valid: a reference is a relative "
            "path under the artifact store (no '..', no absolute path, no hidden name) ending "
            "in its format's suffix; this one was forged or damaged and nothing was opened"
        )
    return parts


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

    def _write(self, parts: list[str], fmt: str, content: Payload) -> int:
        relative = "/".join(parts)

        def fill(out: IO[bytes]) -> None:
            with self.cipher.sealing(out, relative, fmt) as sealed:
                if callable(content):
                    content(sealed)
                else:
                    for part in content:
                        sealed.write(part)

        return self.backend.write(relative, fill)

    @staticmethod
    def _path(folder: str, name: str, fmt: str) -> list[str]:
        relative = f"{folder}/{name}{SUFFIX[fmt]}"
        path = _parts(relative)
        if path is None:
            raise FlowAtError(
                f"cannot store {name!r} as an artifact at {relative!r}: folder and name must be "
                "plain relative names (no '..', no leading '.' or '/')"
            )
        return path

    def put(self, folder: str, name: str, value: Any) -> ArtifactRef:
        """Store ``value`` sealed under ``folder/name`` and return its reference.

        Raises:
            FlowAtError: the value cannot be stored (not picklable, or a name that is
                not a plain file name).

        """
        description = describe(value)
        fmt, parts = payload(value, name)
        try:
            size = self._write(self._path(folder, name, fmt), fmt, parts)
        except (ValueError, TypeError, NotImplementedError):  # pyarrow's conversion errors
            if fmt != "parquet" or isinstance(value, Prepared):
                raise
            # Parquet cannot hold this frame as it is (a column of mixed types): nothing
            # was stored, and the frame is kept as a pickle instead.
            fmt, parts = "pickle", pickled_payload(value, name)
            size = self._write(self._path(folder, name, fmt), fmt, parts)
        relative = f"{folder}/{name}{SUFFIX[fmt]}"
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
        return load(ref.format, self._read(ref))

    def prepared(self, ref: ArtifactRef) -> Any:
        """Like :meth:`get`, but a table, array or pickle comes as its opened bytes.

        The step's process loads it (:class:`Prepared`), so the worker need not import
        pandas or numpy, nor unpickle anything.

        Raises:
            VaultAuthenticationError: as :meth:`get`.
            FlowAtError: as :meth:`get`.

        """
        if ref.format in ("parquet", "npy", "pickle"):
            return Prepared(ref.format, self._read(ref), ref.description)
        return self.get(ref)

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
