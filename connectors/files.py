"""The ``files`` connector: read and write text, bytes or JSON files.

Files live either in a local folder (``root``, required) or in the artifact store
(``store="artifacts"``: under ``FLOWAT_HOME/artifacts/files/``). A ``path`` is always
relative to that folder; one that leads out of it, through ``..`` or a symbolic link,
is refused.

Bytes travel as base64 (inputs and outputs are JSON). ``write`` replaces a file
atomically (a temporary file in the same folder, then ``os.replace``), so readers see the
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
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from flowat_kernel.sdk import ActionContext, ActionError, Connector

__all__ = ["FileRead", "FileWritten", "ReadFile", "WriteFile", "connector"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)

connector = Connector(
    id="files",
    name="Files",
    description="Read and write text, bytes or JSON in a local folder or the artifact store.",
)


class _Location(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, description="the file's path, relative to the folder")
    root: str | None = Field(
        default=None, description="the local folder (required unless store='artifacts')"
    )
    store: Literal["local", "artifacts"] = Field(
        default="local", description="'local' (root) or 'artifacts' (FLOWAT_HOME/artifacts/files)"
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
        if self.store == "local" and not self.root:
            raise ValueError("give root, the local folder (or store='artifacts')")
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
    """The circuit breaker's key: the store, and the folder for local files."""
    return "artifacts" if params.store == "artifacts" else f"local:{params.root}"[:255]


def _resolve(params: _Location, action: str) -> Path:
    """The real path of ``params.path`` inside its folder.

    Raises:
        ActionError: no such folder, or the path leads out of it (not retryable).

    """
    if params.store == "artifacts":
        from flowat_kernel.step_context import scope_services

        base = scope_services().files_dir
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _os_error(action, base, exc, retryable=True) from exc
    else:
        base = Path(str(params.root)).expanduser()
    if not base.is_dir():
        raise ActionError(
            f"{action}: root {str(base)!r} is not a folder; create it or fix root",
            retryable=False,
        )
    try:
        base = base.resolve()
        target = (base / params.path).resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of symbolic links
        raise ActionError(
            f"{action}: cannot follow {params.path!r} under {str(base)!r}: {exc}",
            retryable=False,
        ) from exc
    if not target.is_relative_to(base) or target == base:
        raise ActionError(
            f"{action}: path {params.path!r} leads out of {str(base)!r} (through '..', an "
            "absolute path or a symbolic link) or names the folder itself; give a path "
            "to a file inside it",
            retryable=False,
        )
    return target


def _os_error(action: str, path: Path, exc: OSError, retryable: bool) -> ActionError:
    """An OSError as an ActionError: the usual mistakes are not retryable."""
    hints: dict[type[OSError], str] = {
        FileNotFoundError: "no such file; check path and root",
        FileExistsError: "the file exists and mode='create' does not replace it; use "
        "mode='overwrite' or another path",
        IsADirectoryError: "it is a folder, not a file",
        NotADirectoryError: "a part of the path is a file, not a folder",
        PermissionError: "permission denied; check the file's and folder's permissions",
    }
    for kind, hint in hints.items():
        if isinstance(exc, kind):
            return ActionError(f"{action}: {path}: {hint}", retryable=False)
    if exc.errno == errno.ELOOP:
        return ActionError(f"{action}: {path}: a symbolic link is in the way", retryable=False)
    return ActionError(f"{action}: {path}: {exc.strerror or exc}", retryable=retryable)


@connector.action(
    "read",
    input=ReadFile,
    output=FileRead,
    retry_safe=True,
    target=_target,
    description="Read a file as text, bytes (base64) or JSON.",
)
def read(ctx: ActionContext, params: ReadFile) -> FileRead:
    """Read the file ``path`` under its folder.

    Raises:
        ActionError: the path is outside the folder, the file is missing, too large,
            not valid text or JSON (not retryable); other I/O errors (retryable).

    """
    path = _resolve(params, "files.read")
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _BINARY)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise IsADirectoryError(path)
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
    """Write to the file ``path`` under its folder.

    Raises:
        ActionError: the path is outside the folder, bad base64, the file exists
            (``create``), permissions (not retryable); other I/O errors (retryable,
            except when appending).

    """
    path = _resolve(params, "files.write")
    data = _encode(params)
    try:
        if params.make_dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
        if params.mode == "append":
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _BINARY)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        else:
            _replace(path, data, exclusive=params.mode == "create")
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise ActionError(
            f"files.write: {path}: its folder does not exist; create it or set make_dirs=True",
            retryable=False,
        ) from exc
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


def _replace(path: Path, data: bytes, *, exclusive: bool) -> None:
    """Write ``data`` to a temporary file beside ``path``, then move it into place.

    ``exclusive``: link it into place instead, which fails if ``path`` exists.
    """
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            try:
                os.link(temporary, path)  # atomic, and refuses an existing path
            except FileExistsError:
                raise
            except OSError:  # no hard links on this file system: create, then fill
                _write_new(path, data)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))  # keep its mode
            os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    _sync_folder(path.parent)


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY, 0o666)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX; elsewhere a no-op)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
