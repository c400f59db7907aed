"""How a value becomes an artifact's bytes and back: Parquet, ``.npy``, bytes, pickle.

Tables (pandas data frames with unique string column names) go to Parquet, arrays
without Python objects to ``.npy`` (never pickled), ``bytes`` as they are, anything
else through cloudpickle. :class:`~flowat_kernel.engine.artifacts.ArtifactStore` seals
what :func:`payload` gives and opens what :func:`load` reads.

:class:`Prepared` is a table or array already turned into its artifact bytes. A step's
process has pandas and numpy loaded; the worker need not: the step's process sends
its data frames as Parquet (:func:`prepare`), the worker seals those bytes as they are,
and a later step's process receives the opened bytes and loads them itself
(:func:`materialize`). So a worker (and ``flowat run``, which is one) never imports
pandas to pass a table from one step to the next; pickled values cross it unopened too.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Literal

from flowat_kernel.errors import FlowAtError

__all__ = [
    "SUFFIX",
    "ArtifactFormat",
    "Payload",
    "Prepared",
    "describe",
    "load",
    "materialize",
    "payload",
    "pickled_payload",
    "prepare",
]

ArtifactFormat = Literal["parquet", "npy", "bytes", "pickle"]

#: Each format's file suffix (an artifact's reference ends with it).
SUFFIX: dict[str, str] = {"parquet": ".parquet", "npy": ".npy", "bytes": ".bin", "pickle": ".pkl"}
#: What the store seals: buffers in order, or a function writing the content to a stream.
Payload = list[bytes | memoryview] | Callable[[IO[bytes]], object]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A value already in its artifact format (see the module's description).

    Attributes:
        format: ``parquet``, ``npy`` or ``pickle``.
        data: the artifact's plain (unsealed) bytes.
        description: what the value was, for people (``DataFrame 500x3``).

    """

    format: ArtifactFormat
    data: bytes | bytearray
    description: str

    def load(self) -> Any:
        """The value itself (imports pandas or numpy)."""
        return load(self.format, self.data)


def describe(value: Any) -> str:
    """A short description of ``value`` for people: its type and shape or size."""
    if isinstance(value, Prepared):
        return value.description
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


def _is_table(value: Any) -> bool:
    """A pandas data frame that Parquet keeps as it is (unique string column names)."""
    if type(value).__module__.split(".")[0] != "pandas" or type(value).__name__ != "DataFrame":
        return False
    columns = list(value.columns)
    return all(isinstance(c, str) for c in columns) and len(set(columns)) == len(columns)


def _is_array(value: Any) -> bool:
    """A numpy array that ``.npy`` stores without pickling (no Python objects in it)."""
    return (
        type(value).__module__.split(".")[0] == "numpy"
        and type(value).__name__ == "ndarray"
        and not value.dtype.hasobject
    )


def payload(value: Any, name: str) -> tuple[ArtifactFormat, Payload]:
    """The format ``value`` is stored in, and what to seal.

    A table goes to Parquet, written as it is sealed; when Parquet cannot hold it (a
    column of mixed types), :func:`pickled_payload` gives the fallback.

    Raises:
        FlowAtError: the value cannot be pickled (``name`` is the export, for the message).

    """
    if isinstance(value, Prepared):
        return value.format, [memoryview(value.data)]
    if _is_table(value):
        return "parquet", value.to_parquet  # streamed through the cipher into the backend
    if _is_array(value):
        return "npy", _npy_parts(value)
    if isinstance(value, bytes | bytearray):
        return "bytes", [memoryview(value)]
    return "pickle", pickled_payload(value, name)


def pickled_payload(value: Any, name: str) -> list[bytes | memoryview]:
    """``value`` pickled, to seal.

    Raises:
        FlowAtError: it cannot be pickled (``name`` is the export, for the message).

    """
    import cloudpickle

    try:
        return [cloudpickle.dumps(value)]
    except Exception as exc:
        raise FlowAtError(
            f"cannot pass {name!r} ({describe(value)}) to later steps: it cannot be pickled "
            f"({exc.__class__.__name__}: {exc}); export plain data instead, or give it a "
            "name starting with _ to keep it private to the step"
        ) from exc


def load(fmt: str, plaintext: bytes | bytearray) -> Any:
    """The value an opened (authenticated) artifact of format ``fmt`` holds."""
    if fmt == "parquet":
        import pandas as pd
        import pyarrow as pa

        return pd.read_parquet(pa.BufferReader(pa.py_buffer(plaintext)))
    if fmt == "npy":
        return _load_npy(plaintext)
    if fmt == "bytes":
        return bytes(plaintext)
    import cloudpickle

    return cloudpickle.loads(plaintext)  # authenticated by the caller: FlowAt wrote it


def prepare(value: Any) -> Any:
    """A table or array as :class:`Prepared` bytes; any other value unchanged.

    A table Parquet cannot hold as it is (a column of mixed types, say) is prepared as
    a pickle instead, as :meth:`ArtifactStore.put
    <flowat_kernel.engine.artifacts.ArtifactStore.put>` stores it; one that cannot be
    pickled either is returned unchanged, for the caller to report.
    """
    if _is_table(value):
        buffer = io.BytesIO()
        try:
            value.to_parquet(buffer)
        except Exception:  # pyarrow's conversion errors: keep the frame as it is
            return _pickled(value)
        return Prepared("parquet", buffer.getvalue(), describe(value))
    if _is_array(value):
        return Prepared("npy", b"".join(_npy_parts(value)), describe(value))
    return value


def _pickled(value: Any) -> Any:
    import cloudpickle

    try:
        return Prepared("pickle", cloudpickle.dumps(value), describe(value))
    except Exception:
        return value


def materialize(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with every :class:`Prepared` one loaded (the others as they are)."""
    if not any(isinstance(v, Prepared) for v in values.values()):
        return values
    return {k: v.load() if isinstance(v, Prepared) else v for k, v in values.items()}


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


def _load_npy(plaintext: bytes | bytearray) -> Any:
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
