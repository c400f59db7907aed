"""Where sealed artifact bytes live: one interface, backends chosen by ``FLOWAT_ARTIFACTS_URL``.

The :class:`~flowat_kernel.engine.artifacts.ArtifactStore` turns values into sealed
bytes and back; a backend only stores those bytes under a reference (a relative path
such as ``runs/RUN/STEP/NAME.parquet``, already checked by the store). Backends:

* :class:`LocalBackend`: a folder (``FLOWAT_HOME/artifacts`` by default, or
  ``file:///path``), one 0600 file per artifact in 0700 folders, written atomically;
* :class:`~flowat_kernel.store.artifact_chunks.DatabaseBackend`: rows of the
  metadata store's PostgreSQL (``database``) or of another PostgreSQL database;
* :class:`~flowat_kernel.engine.artifact_s3.S3Backend`: S3-compatible object storage
  (``s3://bucket/prefix``) through boto3.

Every backend streams: a write hands the sealed bytes over in pieces (files, chunk
rows, multipart parts) and makes the artifact visible only once it is complete; a read
hands back a stream and the stored size, which the cipher reads in 1 MiB pieces.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from flowat_kernel.config import private_dir
from flowat_kernel.errors import ConfigError
from flowat_kernel.streams import Fill, Readable
from flowat_kernel.vault.artifact_cipher import refused

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from flowat_kernel.config import Settings

__all__ = ["ArtifactBackend", "Fill", "LocalBackend", "Readable", "open_backend"]

_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW
_DIR_FLAGS = _OPEN_FLAGS | os.O_DIRECTORY


class ArtifactBackend(Protocol):
    """Stores sealed artifact bytes by reference. References arrive already checked."""

    #: Where the artifacts are, for messages (never with a password or key).
    location: str

    def write(self, reference: str, fill: Fill) -> int:
        """Store what ``fill`` writes as ``reference`` (replacing it); its size in bytes.

        Nothing is visible under ``reference`` until ``fill`` returned; if it raises,
        nothing is stored and the exception propagates.
        """
        ...

    def open(self, reference: str) -> AbstractContextManager[tuple[Readable, int]]:
        """A stream of the stored bytes of ``reference`` and their number.

        Raises:
            FileNotFoundError: nothing is stored under ``reference``.

        """
        ...

    def delete(self, reference: str) -> bool:
        """Remove ``reference``; whether it was there."""
        ...

    def delete_folder(self, folder: str) -> int:
        """Remove every artifact under ``folder/`` (e.g. ``runs/RUN``); how many there were."""
        ...

    def folders(self, folder: str) -> list[str]:
        """The names directly under ``folder/`` that hold artifacts (e.g. run ids)."""
        ...


class LocalBackend:
    """A folder of sealed files: references are paths under ``root``, no link followed.

    Folders are created 0700 and files 0600; a file is written under a hidden temporary
    name and renamed, so a reader never sees half an artifact.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)

    def _folder(self, parts: list[str], reference: str, create: bool) -> int:
        """A descriptor of the folder ``parts`` under the root, never through a link."""
        if create:
            private_dir(self.root)
        fd = os.open(self.root, _DIR_FLAGS)
        try:
            for part in parts:
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o700, dir_fd=fd)
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except (NotADirectoryError, OSError) as exc:
                    if isinstance(exc, FileNotFoundError):
                        raise
                    raise refused(reference) from None  # a link or a file in the way
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def write(self, reference: str, fill: Fill) -> int:
        """Write the file atomically (hidden temporary name, then rename); its size."""
        parts = reference.split("/")
        folder = self._folder(parts[:-1], reference, create=True)
        name = parts[-1]
        temporary = f".{name}.{uuid.uuid4().hex}.tmp"
        try:
            fd = os.open(
                temporary,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=folder,
            )
            try:
                with os.fdopen(fd, "wb", buffering=0) as handle:
                    fill(handle)
                os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary, dir_fd=folder)
            return os.stat(name, dir_fd=folder, follow_symlinks=False).st_size
        finally:
            os.close(folder)

    @contextlib.contextmanager
    def open(self, reference: str) -> Iterator[tuple[Readable, int]]:
        """The file, opened without following links, and its size."""
        parts = reference.split("/")
        folder = self._folder(parts[:-1], reference, create=False)
        try:
            fd = os.open(parts[-1], _OPEN_FLAGS | os.O_NONBLOCK, dir_fd=folder)
        except FileNotFoundError:
            raise
        except OSError:
            raise refused(reference) from None  # a symbolic link, or not a file
        finally:
            os.close(folder)
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise refused(reference)
            yield handle, info.st_size

    def delete(self, reference: str) -> bool:
        """Unlink the file (never a link's target)."""
        parts = reference.split("/")
        try:
            folder = self._folder(parts[:-1], reference, create=False)
        except FileNotFoundError:
            return False
        try:
            os.unlink(parts[-1], dir_fd=folder)
        except FileNotFoundError:
            return False
        finally:
            os.close(folder)
        return True

    def delete_folder(self, folder: str) -> int:
        """Remove the folder's tree (file descriptors throughout: no link is followed)."""
        parts = folder.split("/")
        try:
            parent = self._folder(parts[:-1], folder, create=False)
        except FileNotFoundError:
            return 0
        try:
            try:
                top = os.open(parts[-1], _DIR_FLAGS, dir_fd=parent)
            except FileNotFoundError:
                return 0
            except OSError:
                raise refused(folder) from None
            try:
                count = _count_files(top)
            finally:
                os.close(top)
            shutil.rmtree(parts[-1], dir_fd=parent, onerror=_gone_is_fine)
            return count
        finally:
            os.close(parent)

    def folders(self, folder: str) -> list[str]:
        """The folder's entries, hidden ones left out."""
        try:
            fd = self._folder(folder.split("/"), folder, create=False)
        except FileNotFoundError:
            return []
        try:
            return [name for name in os.listdir(fd) if not name.startswith(".")]
        finally:
            os.close(fd)


def _gone_is_fine(function: object, path: str, info: tuple[object, BaseException, object]) -> None:
    """For rmtree: another deleter removed an entry first (anything else is an error)."""
    if not isinstance(info[1], FileNotFoundError):
        raise info[1]


def _count_files(fd: int) -> int:
    """The regular files (not hidden temporaries) in the folder ``fd`` and below."""
    count = 0
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                try:
                    child = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:  # another deleter was first
                    continue
                try:
                    count += _count_files(child)
                finally:
                    os.close(child)
            elif entry.is_file(follow_symlinks=False) and not entry.name.startswith("."):
                count += 1
    return count


def open_backend(settings: Settings, store_engine: Callable[[], Engine]) -> ArtifactBackend:
    """The backend ``FLOWAT_ARTIFACTS_URL`` names (the home's folder when unset).

    Args:
        settings: the configuration (``artifacts_url`` and the S3 settings).
        store_engine: the metadata store's engine, for ``database``.

    Raises:
        ConfigError: the URL cannot be used; the message names what to set.

    """
    url = settings.artifacts_url
    if not url:
        return LocalBackend(settings.artifacts_dir)
    if url.startswith("file://"):
        path = Path(url.removeprefix("file://"))
        if not path.is_absolute():
            raise ConfigError(
                f"FLOWAT_ARTIFACTS_URL={url!r} needs an absolute folder, "
                "e.g. file:///srv/flowat/artifacts"
            )
        return LocalBackend(path)
    if url.startswith("s3://"):
        from flowat_kernel.engine.artifact_s3 import S3Backend

        return S3Backend.from_settings(settings)
    from flowat_kernel.store.artifact_chunks import DatabaseBackend

    if url == "database":
        engine = store_engine()
        if engine.dialect.name != "postgresql":
            raise ConfigError(
                "FLOWAT_ARTIFACTS_URL=database keeps artifacts in the metadata store, which "
                "needs FLOWAT_DATABASE_URL to be PostgreSQL (it is "
                f"{engine.dialect.name}); unset FLOWAT_ARTIFACTS_URL to keep them in "
                "FLOWAT_HOME/artifacts"
            )
        return DatabaseBackend(engine)
    return DatabaseBackend.from_url(url)
