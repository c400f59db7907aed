"""The ``files`` connector: read and write text, bytes or JSON files.

Files live in a *files root*, a folder an Owner or Administrator configured, or in the
artifact store (``store="artifacts"``: the run's ``FLOWAT_HOME/artifacts/files/``). The
step author names a root (``root="data"``), never a folder: the roots are
``FLOWAT_FILES_ROOTS=name=/folder,...`` (default: ``data=FLOWAT_HOME/data``), which can
never be ``/``, ``FLOWAT_HOME`` itself, the vault, the store or the artifacts
(:mod:`flowat_kernel.config`). A ``path`` is relative to the root, ``/``-separated and
without ``..``; symbolic links are never followed, and the file is opened race-free
beneath the root (:mod:`.beneath`), so no path, link or concurrent swap leads out of it.

Bytes travel as base64 (inputs and outputs are JSON). ``write`` replaces a file
atomically (a temporary file in the same folder, then a rename), so readers see the
old content or the new, never half of it; ``mode="create"`` refuses to replace an
existing file and ``mode="append"`` adds to the end (JSON is appended as one line, in
the JSON Lines format).

``read`` is ``retry_safe``; ``write`` is not, because an append or a create is not
harmless to repeat (an overwrite is: that mode's unexpected I/O errors are retryable).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import errno
import json
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from flowat_kernel.config import settings
from flowat_kernel.errors import ConfigError
from flowat_kernel.sdk import ActionContext, ActionError, Connector

from .beneath import EscapeError, open_folder, parts

__all__ = [
    "FileRead",
    "FileWritten",
    "ReadFile",
    "WriteFile",
    "connector",
    "open_parent",
    "open_to_read",
]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO must not hang the step
DEFAULT_ROOT = "data"

connector = Connector(
    id="files",
    name="Files",
    description="Read and write text, bytes or JSON in a configured files root or the "
    "artifact store.",
)


class _Location(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        min_length=1, description="the file's path inside the root: relative, no '..'"
    )
    root: str | None = Field(
        default=None,
        description="the name of a files root the Administrator configured "
        f"(FLOWAT_FILES_ROOTS); '{DEFAULT_ROOT}' (FLOWAT_HOME/data) when unset",
    )
    store: Literal["local", "artifacts"] = Field(
        default="local", description="'local' (a files root) or 'artifacts' (the run's files)"
    )
    encoding: str = Field(default="utf-8", description="text encoding for text and JSON")

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @model_validator(mode="after")
    def _one_folder(self) -> _Location:
        if self.store == "artifacts" and self.root is not None:
            raise ValueError("root is for store='local'; artifact files have their own folder")
        return self


class ReadFile(_Location):
    """The input of ``files.read``."""

    format: Literal["text", "bytes", "json"] = Field(
        default="text", description="text (decoded), bytes (base64) or json (parsed)"
    )
    max_bytes: int = Field(
        default=16 * 1024 * 1024, gt=0, description="refuse files larger than this (bytes)"
    )


class FileRead(BaseModel):
    """The output of ``files.read``: the content in the field its format names."""

    path: str = Field(description="the absolute path read")
    size_bytes: int = Field(description="the file's size in bytes")
    text: str | None = Field(default=None, description="the content, for format='text'")
    json_value: JsonValue | None = Field(default=None, description="the content, for format='json'")
    base64: str | None = Field(default=None, description="the content, base64, for format='bytes'")


class WriteFile(_Location):
    """The input of ``files.write``: exactly one of ``text``, ``json_value``, ``base64``."""

    text: str | None = Field(default=None, description="text to write, encoded with encoding")
    json_value: JsonValue | None = Field(default=None, description="a value to write as JSON")
    base64: str | None = Field(default=None, description="bytes to write, base64-encoded")
    mode: Literal["overwrite", "append", "create"] = Field(
        default="overwrite",
        description="overwrite (atomically), append, or create (fails if the file exists)",
    )
    make_dirs: bool = Field(default=True, description="create missing folders under the root")

    @model_validator(mode="after")
    def _one_content(self) -> WriteFile:
        given = {"text", "json_value", "base64"} & self.model_fields_set
        if len(given) != 1:
            raise ValueError("give exactly one of text, json_value or base64")
        if self.base64 is None and "base64" in given:
            raise ValueError("base64 must be a string")
        if self.text is None and "text" in given:
            raise ValueError("text must be a string")
        return self


class FileWritten(BaseModel):
    """The output of ``files.write``."""

    path: str = Field(description="the absolute path written")
    size_bytes: int = Field(description="the file's size in bytes after the write")
    written_bytes: int = Field(description="how many bytes this write added or replaced")


def _target(params: _Location) -> str:
    """The circuit breaker's key: the store, and the root's name for local files."""
    return "artifacts" if params.store == "artifacts" else f"local:{params.root or DEFAULT_ROOT}"


def _base(params: _Location, action: str) -> Path:
    """The folder of the configured root (or the run's artifact files) ``params`` names.

    Raises:
        ActionError: no such root, or its folder is missing (not retryable).

    """
    if params.store == "artifacts":
        from flowat_kernel.step_context import scope_services

        base = scope_services().files_dir
        try:
            base.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise _os_error(action, base, exc, retryable=True) from exc
        return base
    try:
        config = settings()
    except ConfigError as exc:
        raise ActionError(f"{action}: {exc}", retryable=False) from None
    roots = dict(config.files_roots)
    name = params.root or DEFAULT_ROOT
    if name not in roots:
        looks_like_path = any(c in name for c in "/\\~") or name.startswith(".")
        hint = "give a root's name, not a folder; " if looks_like_path else ""
        raise ActionError(
            f"{action}: root {name!r} is not a configured files root; {hint}the roots are "
            f"{', '.join(sorted(roots)) or '(none)'}. An Owner or Administrator adds one "
            "with FLOWAT_FILES_ROOTS=name=/folder,...",
            retryable=False,
        )
    base = roots[name]
    if name == DEFAULT_ROOT and base == config.home / "data":
        with contextlib.suppress(OSError):
            base.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not base.is_dir():
        raise ActionError(
            f"{action}: the folder {str(base)!r} of files root {name!r} does not exist; an "
            "Owner or Administrator must create it or fix FLOWAT_FILES_ROOTS",
            retryable=False,
        )
    return base


@contextlib.contextmanager
def _located(params: _Location, action: str, make_dirs: bool) -> Iterator[tuple[int, str, Path]]:
    """The open folder of the file, the file's name in it, and its path for messages.

    Raises:
        ActionError: the path is not inside the root, or a folder on it is missing, a
            file, or a symbolic link (not retryable).

    """
    base = _base(params, action)
    try:
        names = parts(params.path)
    except EscapeError as exc:
        raise ActionError(
            f"{action}: path {params.path!r} {exc} (it must not lead out of {str(base)!r})",
            retryable=False,
        ) from None
    shown = base.joinpath(*names)
    try:
        root_fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    except OSError as exc:
        raise _os_error(action, base, exc, retryable=True) from exc
    try:
        folder = open_folder(root_fd, names[:-1], make=make_dirs)
    except FileNotFoundError as exc:
        if isinstance(params, WriteFile):
            raise ActionError(
                f"{action}: {shown}: its folder does not exist; create it or set make_dirs=True",
                retryable=False,
            ) from exc
        raise _os_error(action, shown, exc, retryable=False) from exc
    except OSError as exc:
        raise _os_error(action, shown, exc, retryable=True) from exc
    finally:
        os.close(root_fd)
    try:
        yield folder, names[-1], shown
    finally:
        os.close(folder)


def _link_error(action: str, path: Path) -> ActionError:
    return ActionError(
        f"{action}: {path}: a symbolic link is in the way; links are never followed in a "
        "files root, since one could lead out of it: use the real path",
        retryable=False,
    )


def _os_error(action: str, path: Path, exc: OSError, retryable: bool) -> ActionError:
    """An OSError as an ActionError: the usual mistakes are not retryable."""
    hints: dict[type[OSError], str] = {
        FileNotFoundError: "no such file; check path and root",
        FileExistsError: "the file exists and mode='create' does not replace it; use "
        "mode='overwrite' or another path",
        IsADirectoryError: "it is a folder or a special file, not a regular file",
        NotADirectoryError: "a part of the path is a file, not a folder",
        PermissionError: "permission denied; check the file's and folder's permissions",
    }
    for kind, hint in hints.items():
        if isinstance(exc, kind):
            return ActionError(f"{action}: {path}: {hint}", retryable=False)
    if exc.errno in (errno.ELOOP, errno.EXDEV):
        return _link_error(action, path)
    return ActionError(f"{action}: {path}: {exc.strerror or exc}", retryable=retryable)


def open_to_read(root: str | None, path: str, action: str) -> tuple[int, Path]:
    """Open the regular file ``path`` of files root ``root`` race-free, for reading.

    For other connectors that read files (``duckdb``); the caller closes the descriptor.

    Raises:
        ActionError: as ``files.read`` for a bad root, path, link or missing file.

    """
    params = _Location(path=path, root=root)
    with _located(params, action, make_dirs=False) as (folder, name, shown):
        try:
            fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC, dir_fd=folder)
        except OSError as exc:
            raise _os_error(action, shown, exc, retryable=True) from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ActionError(f"{action}: {shown}: not a regular file", retryable=False)
    return fd, shown


def open_parent(root: str | None, path: str, action: str, make_dirs: bool) -> tuple[int, str, Path]:
    """The folder of ``path`` in files root ``root``, opened race-free, and the file's name.

    For other connectors that open files by name in that folder (``sql``'s SQLite
    databases): returns the folder's descriptor (the caller closes it), the file's name
    in it and its path for messages.

    Raises:
        ActionError: as ``files.read`` for a bad root, path, link or missing folder.

    """
    with _located(_Location(path=path, root=root), action, make_dirs) as (folder, name, shown):
        return os.dup(folder), name, shown


@connector.action(
    "read",
    input=ReadFile,
    output=FileRead,
    retry_safe=True,
    target=_target,
    description="Read a file as text, bytes (base64) or JSON.",
)
def read(ctx: ActionContext, params: ReadFile) -> FileRead:
    """Read the file ``path`` under its root.

    Raises:
        ActionError: the path is outside the folder, the file is missing, too large,
            not valid text or JSON (not retryable); other I/O errors (retryable).

    """
    with _located(params, "files.read", make_dirs=False) as (folder, name, path):
        try:
            fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC, dir_fd=folder)
            with os.fdopen(fd, "rb") as handle:
                if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                    raise IsADirectoryError(errno.EISDIR, "not a regular file", str(path))
                data = handle.read(params.max_bytes + 1)
        except OSError as exc:
            raise _os_error("files.read", path, exc, retryable=True) from exc
    if len(data) > params.max_bytes:
        raise ActionError(
            f"files.read: {path} is larger than max_bytes={params.max_bytes}; raise the limit",
            retryable=False,
        )
    result = FileRead(path=str(path), size_bytes=len(data))
    if params.format == "bytes":
        result.base64 = base64.b64encode(data).decode("ascii")
        return result
    try:
        text = data.decode(params.encoding)
    except UnicodeDecodeError as exc:
        raise ActionError(
            f"files.read: {path} is not {params.encoding} text (byte {exc.start}); read it "
            "with format='bytes' or the right encoding",
            retryable=False,
        ) from None
    if params.format == "text":
        result.text = text
        return result
    try:
        result.json_value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ActionError(
            f"files.read: {path} is not valid JSON: {exc.msg} (line {exc.lineno}, column "
            f"{exc.colno}); read it with format='text'",
            retryable=False,
        ) from None
    return result


@connector.action(
    "write",
    input=WriteFile,
    output=FileWritten,
    retry_safe=False,
    target=_target,
    description="Write text, bytes (base64) or JSON to a file: overwrite, append or create.",
)
def write(ctx: ActionContext, params: WriteFile) -> FileWritten:
    """Write to the file ``path`` under its root.

    Raises:
        ActionError: the path is outside the folder, bad base64, the file exists
            (``create``), permissions (not retryable); other I/O errors (retryable,
            except when appending).

    """
    data = _encode(params)
    with _located(params, "files.write", make_dirs=params.make_dirs) as (folder, name, path):
        try:
            if params.mode == "append":
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _NONBLOCK
                fd = os.open(name, flags | _CLOEXEC, 0o666, dir_fd=folder)
                with os.fdopen(fd, "wb") as handle:
                    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                        raise IsADirectoryError(errno.EISDIR, "not a regular file", str(path))
                    handle.write(data)
                    handle.flush()
                    size = os.fstat(handle.fileno()).st_size
            else:
                _replace(folder, name, data, exclusive=params.mode == "create")
                size = len(data)
        except OSError as exc:
            retryable = params.mode != "append"  # an atomic write left nothing half-done
            raise _os_error("files.write", path, exc, retryable) from exc
    return FileWritten(path=str(path), size_bytes=size, written_bytes=len(data))


def _encode(params: WriteFile) -> bytes:
    if params.base64 is not None:
        try:
            return base64.b64decode(params.base64, validate=True)
        except (binascii.Error, ValueError):
            raise ActionError(
                "files.write: base64 is not valid base64; encode the bytes with "
                "base64.b64encode(data).decode()",
                retryable=False,
            ) from None
    if params.text is not None:
        text = params.text
    elif params.mode == "append":
        text = json.dumps(params.json_value, ensure_ascii=False) + "\n"
    else:
        text = json.dumps(params.json_value, ensure_ascii=False, indent=2) + "\n"
    try:
        return text.encode(params.encoding)
    except UnicodeEncodeError as exc:
        raise ActionError(
            f"files.write: the text has characters {params.encoding} cannot encode "
            f"(position {exc.start}); use encoding='utf-8'",
            retryable=False,
        ) from None


def _replace(folder: int, name: str, data: bytes, *, exclusive: bool) -> None:
    """Write ``data`` to a temporary file in ``folder``, then move it into place as ``name``.

    ``exclusive``: link it into place instead, which fails if ``name`` exists. A symbolic
    link at ``name`` is refused, not replaced.
    """
    try:
        current: os.stat_result | None = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        current = None
    if current is not None and stat.S_ISLNK(current.st_mode):
        raise OSError(errno.ELOOP, "a symbolic link", name)
    temporary = f".{name}.{uuid.uuid4().hex[:12]}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
    fd = os.open(temporary, flags, 0o666, dir_fd=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if current is not None and not exclusive and stat.S_ISREG(current.st_mode):
                os.fchmod(handle.fileno(), stat.S_IMODE(current.st_mode))  # keep its mode
            os.fsync(handle.fileno())
        if exclusive:
            try:  # atomic, and refuses an existing name
                os.link(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
            except FileExistsError:
                raise
            except OSError:  # no hard links on this file system: create, then fill
                _write_new(folder, name, data)
        else:
            os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=folder)
    with contextlib.suppress(OSError):
        os.fsync(folder)  # make the rename durable


def _write_new(folder: int, name: str, data: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
    fd = os.open(name, flags, 0o666, dir_fd=folder)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
