"""What crosses the sandbox boundary, and how.

One message each way, framed as an 8-byte big-endian length and a payload: a JSON
header first, then the binary blobs it points at by index.

- **Request** (parent -> child, on the child's stdin): the step's code, its inputs, the
  secrets it may reveal, its limits and the isolation plan. Inputs are JSON when they
  are plain JSON, otherwise pickled by the parent (the child may unpickle what the
  parent, which trusts its own data, produced).
- **Result** (child -> parent, on a dedicated pipe): exported values as JSON, data
  frames as Parquet, numpy arrays as ``.npy`` without pickle, bytes as they are.
  Nothing the child produced is ever unpickled: :func:`decode_export` reads only
  these formats, and a value of any other kind stays in the sandbox as a skipped
  export with the reason.
- **Status** (the child's supervisor -> parent, a third pipe): one JSON line with how
  the step's process ended (exit code or signal, CPU seconds, wall-clock kill).

This module imports nothing heavy, so the child starts fast.
"""

from __future__ import annotations

import io
import json
import math
import struct
from typing import Any, BinaryIO

__all__ = [
    "MAX_ERROR_MESSAGE",
    "MAX_TRACEBACK",
    "ProtocolError",
    "decode_export",
    "encode_export",
    "is_plain_json",
    "pack",
    "read_message",
    "unpack",
]

_LENGTH = struct.Struct(">Q")
MAX_ERROR_MESSAGE = 8 * 1024
MAX_TRACEBACK = 64 * 1024


class ProtocolError(ValueError):
    """A message is malformed or larger than allowed."""


def pack(header: dict[str, Any], blobs: list[bytes] | None = None) -> bytes:
    """Frame ``header`` (JSON) and ``blobs`` into one message."""
    blobs = blobs or []
    body = json.dumps({**header, "blobs": len(blobs)}, allow_nan=False).encode()
    parts = [_LENGTH.pack(len(body)), body]
    for blob in blobs:
        parts += [_LENGTH.pack(len(blob)), blob]
    return b"".join(parts)


def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"{name} is not JSON")


def unpack(data: bytes, limit: int | None = None) -> tuple[dict[str, Any], list[bytes]]:
    """Split a message made by :func:`pack` into its header and blobs.

    Raises:
        ProtocolError: truncated, malformed, or (with ``limit``) too large.

    """
    if limit is not None and len(data) > limit:
        raise ProtocolError(f"message of {len(data)} bytes is over the limit of {limit}")
    view = memoryview(data)
    frames: list[bytes] = []
    offset = 0
    while offset < len(view):
        if offset + _LENGTH.size > len(view):
            raise ProtocolError("truncated frame length")
        (size,) = _LENGTH.unpack_from(view, offset)
        offset += _LENGTH.size
        if offset + size > len(view):
            raise ProtocolError("truncated frame")
        frames.append(bytes(view[offset : offset + size]))
        offset += size
    if not frames:
        raise ProtocolError("empty message")
    try:
        header = json.loads(frames[0], parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"header is not JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("blobs") != len(frames) - 1:
        raise ProtocolError("header does not match the frames that follow")
    return header, frames[1:]


def read_message(stream: BinaryIO) -> tuple[dict[str, Any], list[bytes]]:
    """Read one whole message from ``stream`` (to its end)."""
    return unpack(stream.read())


def is_plain_json(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` survives a JSON round trip unchanged (types included)."""
    if depth > 64:
        return False
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is list:
        return all(is_plain_json(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and is_plain_json(v, depth + 1) for k, v in value.items())
    return False


# -- exported values -------------------------------------------------------------------


def _kind(value: Any) -> tuple[str, str]:
    kind = type(value)
    return kind.__module__.split(".")[0], kind.__name__


def encode_export(value: Any, blobs: list[bytes]) -> tuple[dict[str, Any] | None, str, int]:
    """Encode one export for the parent: (entry, reason if skipped, encoded size).

    Runs in the child. The entry is ``None`` when the value cannot leave as data; the
    reason then says why.
    """
    module, name = _kind(value)
    if is_plain_json(value):
        size = len(json.dumps(value))
        return {"json": value}, "", size
    if module == "pandas" and name == "DataFrame":
        columns = list(value.columns)
        if not all(isinstance(c, str) for c in columns) or len(set(columns)) != len(columns):
            return None, "a DataFrame whose column names are not unique strings", 0
        buffer = io.BytesIO()
        try:
            value.to_parquet(buffer)
        except Exception as exc:
            return None, f"a DataFrame that Parquet cannot hold ({type(exc).__name__}: {exc})", 0
        blobs.append(buffer.getvalue())
        return {"parquet": len(blobs) - 1}, "", len(blobs[-1])
    if module == "numpy" and name == "ndarray" and value.dtype != object:
        import numpy as np

        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        blobs.append(buffer.getvalue())
        return {"npy": len(blobs) - 1}, "", len(blobs[-1])
    if isinstance(value, bytes | bytearray):
        blobs.append(bytes(value))
        return {"bytes": len(blobs) - 1}, "", len(value)
    return (
        None,
        f"a {name}, which cannot leave the sandbox as data (JSON values, DataFrames, "
        "numpy arrays and bytes can)",
        0,
    )


def decode_export(entry: Any, blobs: list[bytes]) -> Any:
    """Turn one export entry from the child back into a value, reading data only.

    Runs in the parent on untrusted input: JSON, Parquet (pyarrow), ``.npy`` with
    ``allow_pickle=False`` or raw bytes; never pickle.

    Raises:
        ProtocolError: the entry is malformed or its data unreadable.

    """
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ProtocolError("malformed export entry")
    ((kind, payload),) = entry.items()
    if kind == "json":
        if not is_plain_json(payload):
            raise ProtocolError("export is not plain JSON")
        return payload
    if kind == "secret":
        from flowat_kernel.vault.handles import SecretHandle

        if not isinstance(payload, str) or not payload:
            raise ProtocolError("malformed secret handle")

        return SecretHandle(payload)
    if not isinstance(payload, int) or not 0 <= payload < len(blobs):
        raise ProtocolError("export points at a missing blob")
    blob = blobs[payload]
    try:
        if kind == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            return pq.read_table(pa.BufferReader(blob)).to_pandas()
        if kind == "npy":
            import numpy as np

            return np.load(io.BytesIO(blob), allow_pickle=False)
        if kind == "bytes":
            return blob
    except Exception as exc:
        raise ProtocolError(f"unreadable {kind} data ({type(exc).__name__}: {exc})") from None
    raise ProtocolError(f"unknown export kind {kind!r}")
