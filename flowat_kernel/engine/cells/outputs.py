"""What a step shows, collected as a notebook keeps it: nbformat output dicts, in order.

Streams (``stdout``, ``stderr``) merge with the output before them when it is the same
stream, as a notebook merges them; ``display_data`` and ``execute_result`` keep their
mime bundles (made JSON: bytes become base64, as in a notebook file). Everything is
bounded: stream text beyond :data:`TEXT_LIMIT` and rich outputs beyond
:data:`RICH_LIMIT` are cut, with a note saying so.

An :class:`Outputs` in the step's process can pass every change it keeps to a *sink*
as an operation (a tuple: what was kept, after the limits). The worker applies them, as
they arrive, to its own copy (:meth:`Outputs.apply`), so what a step showed survives
the step's process being stopped; the copy enforces the same limits.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["RICH_LIMIT", "TEXT_LIMIT", "Operation", "Outputs", "Sink", "json_bundle", "plain_text"]

#: Stream text kept per step (stdout and stderr together), as the step's log.
TEXT_LIMIT = 64 * 1024
#: Rich outputs (display data, results) kept per step, by the size of their JSON.
RICH_LIMIT = 16 * 1024 * 1024
_TRUNCATED = "\n[output truncated]\n"

#: A change kept, as ``(method, *arguments)``: ``Outputs.apply`` repeats it.
Operation = tuple[Any, ...]
#: Receives each operation kept and its size in characters (called under the lock).
Sink = Callable[[Operation, int], None]


def json_bundle(data: dict[str, Any]) -> dict[str, Any]:
    """A mime bundle as JSON: bytes in base64, JSON types kept, anything else as text."""
    out: dict[str, Any] = {}
    for mime, value in data.items():
        if isinstance(value, bytes | bytearray):
            out[mime] = base64.b64encode(bytes(value)).decode("ascii")
        elif isinstance(value, str):
            out[mime] = value
        else:
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                value = str(value)
            out[mime] = value
    return out


class Outputs:
    """The outputs of one step, written from any thread of the step's process.

    Args:
        sink: receives each change kept, as an operation for :meth:`apply` (the step's
            process forwards them to the worker as the step runs).

    """

    def __init__(self, sink: Sink | None = None) -> None:
        self.items: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._sink = sink
        self._text = 0
        self._rich = 0
        self._cut_text = False
        self._cut_rich = False
        self._clear_pending = False
        #: Called before a rich output is added, to take in stream output written
        #: before it but still in transit (a subprocess's output in a pipe).
        self.settle: Callable[[], None] | None = None

    def _kept(self, operation: Operation, size: int = 0) -> None:
        if self._sink is not None:
            self._sink(operation, size)

    def _cut(self, kind: str) -> None:
        flag = f"_cut_{kind}"
        if not getattr(self, flag):
            setattr(self, flag, True)
            self._kept(("cut", kind))

    def stream(self, name: str, text: str) -> None:
        """Append ``text`` to stream ``name`` (``stdout`` or ``stderr``)."""
        if not text:
            return
        with self._lock:
            cleared = self._clear_if_pending()
            if self._text >= TEXT_LIMIT:
                if cleared:  # the clear happened, though the text is dropped
                    self._kept(("clear", False))
                self._cut("text")
                return
            kept = text[: TEXT_LIMIT - self._text]
            self._text += len(kept)
            last = self.items[-1] if self.items else None
            if last is not None and last["output_type"] == "stream" and last["name"] == name:
                last["text"] += kept
            else:
                self.items.append({"output_type": "stream", "name": name, "text": kept})
            self._kept(("stream", name, kept), len(kept))
            if len(kept) < len(text):
                self._cut("text")

    def rich(
        self,
        output_type: str,
        data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        execution_count: int | None = None,
        display_id: str | None = None,
        update: bool = False,
    ) -> None:
        """Append a ``display_data`` or ``execute_result`` (or update one by display id)."""
        if self.settle is not None:
            self.settle()
        bundle = json_bundle(data)
        meta = json_bundle(metadata or {})
        size = len(json.dumps(bundle)) + len(json.dumps(meta))
        operation = ("rich", output_type, bundle, meta, execution_count, display_id, update)
        with self._lock:
            if update:
                if size > RICH_LIMIT:  # replaced, not added: only one this large is refused
                    self._cut("rich")
                    return
                for shown in self.items:
                    if display_id and shown.get("transient", {}).get("display_id") == display_id:
                        shown["data"], shown["metadata"] = bundle, meta
                self._kept(operation, size)
                return
            cleared = self._clear_if_pending()
            if self._rich + size > RICH_LIMIT:
                if cleared:
                    self._kept(("clear", False))
                self._cut("rich")
                return
            self._rich += size
            item: dict[str, Any] = {"output_type": output_type, "data": bundle, "metadata": meta}
            if output_type == "execute_result":
                item["execution_count"] = execution_count
            if display_id:
                item["transient"] = {"display_id": display_id}
            self.items.append(item)
            self._kept(operation, size)

    def error(self, ename: str, evalue: str, traceback: list[str]) -> None:
        """Append an ``error`` output (a clean exit shows ``SystemExit: 0`` in its cell)."""
        with self._lock:
            self._clear_if_pending()
            self.items.append(
                {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": traceback}
            )
            self._kept(("error", ename, evalue, traceback), len(evalue))

    def clear(self, wait: bool = False) -> None:
        """``clear_output()``: drop what was shown (with ``wait``, when the next output comes)."""
        with self._lock:
            if wait:
                self._clear_pending = True
            else:  # now, which also settles a clear waiting for the next output
                self._clear_pending = False
                self.items.clear()
            self._kept(("clear", wait))

    def apply(self, operation: Operation) -> None:
        """Repeat a change another :class:`Outputs` kept (limits apply here too).

        Raises:
            ValueError: not an operation an :class:`Outputs` sends.

        """
        method, *args = operation
        if method == "stream" and len(args) == 2:
            self.stream(str(args[0]), str(args[1]))
        elif method == "rich" and len(args) == 6:
            self.rich(*args)
        elif method == "error" and len(args) == 3:
            self.error(str(args[0]), str(args[1]), [str(line) for line in args[2]])
        elif method == "clear" and len(args) == 1:
            self.clear(bool(args[0]))
        elif method == "cut" and args in (["text"], ["rich"]):
            with self._lock:
                self._cut(args[0])
        else:
            raise ValueError(f"not an output operation: {method!r}")

    def _clear_if_pending(self) -> bool:
        if self._clear_pending:
            self._clear_pending = False
            self.items.clear()
            return True
        return False

    def finished(self) -> list[dict[str, Any]]:
        """The outputs as stored: transient keys removed, truncation noted."""
        with self._lock:
            items = [{k: v for k, v in item.items() if k != "transient"} for item in self.items]
            if self._cut_text:
                items.append({"output_type": "stream", "name": "stderr", "text": _TRUNCATED})
            if self._cut_rich:
                note = "\n[rich output truncated: more than 16 MiB]\n"
                items.append({"output_type": "stream", "name": "stderr", "text": note})
            return items


def plain_text(outputs: list[dict[str, Any]]) -> str:
    """The step's log as before: stdout and stderr text, in the order they were written."""
    return "".join(item["text"] for item in outputs if item.get("output_type") == "stream")
