"""Masking revealed secret values wherever people or records see them.

Every value revealed in this process (and every value a step received from an upstream
step that revealed it) is registered here. :func:`redact_text` and :func:`redact_data`
replace each occurrence with ``[secret:NAME]`` in what is shown or stored: step logs,
errors and tracebacks, run records, logging records and, in a kernel, displayed output.
Masking works on the shown copy only; the values steps hand each other stay intact.

Matching is by exact value (and its JSON- and URL-escaped forms). A value shorter than
:data:`MIN_MASKED_LENGTH` characters is not masked, because masking it would garble
unrelated text; the vault warns when such a secret is set.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import urllib.parse
from typing import Any

__all__ = [
    "MIN_MASKED_LENGTH",
    "install_logging_redaction",
    "mask_standard_streams",
    "names_in",
    "redact_data",
    "redact_text",
    "register",
]

MIN_MASKED_LENGTH = 4

# Re-entrant: building the pattern allocates, and a finaliser that runs then (an asyncio
# task destroyed while pending logs an error) can log through redaction on this thread.
_lock = threading.RLock()
_values: dict[str, str] = {}  # form of a value -> secret name
_pattern: re.Pattern[str] | None = None


def _forms(value: str) -> set[str]:
    forms = {value, json.dumps(value)[1:-1], urllib.parse.quote(value, safe="")}
    forms.add(urllib.parse.quote_plus(value))
    return {form for form in forms if len(form) >= MIN_MASKED_LENGTH}


def register(name: str, value: str) -> None:
    """Mask ``value`` (shown as ``[secret:name]``) from now on in this process."""
    global _pattern
    forms = _forms(value)
    with _lock:
        if all(_values.get(form) == name for form in forms):
            return
        for form in forms:
            _values[form] = name
        _pattern = None  # rebuilt on the next use, once for any number of new values


def _current() -> re.Pattern[str] | None:
    """The pattern over every registered form, longest first (``None``: nothing to mask)."""
    global _pattern
    pattern = _pattern
    if pattern is not None or not _values:
        return pattern
    with _lock:
        if _pattern is None and _values:
            ordered = sorted(_values, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(form) for form in ordered))
        return _pattern


def redact_text(text: str) -> str:
    """``text`` with every registered value masked."""
    pattern = _current()
    if pattern is None or not text:
        return text
    return pattern.sub(lambda m: f"[secret:{_values.get(m.group(0), '?')}]", text)


def redact_data(value: Any, depth: int = 0) -> Any:
    """A copy of JSON-like ``value`` with registered values masked in every string."""
    if not _values or depth > 64:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list | tuple):
        return [redact_data(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {
            redact_text(k) if isinstance(k, str) else k: redact_data(v, depth + 1)
            for k, v in value.items()
        }
    return value


def names_in(value: Any, depth: int = 0) -> set[str]:
    """Names of the registered secrets whose values occur in JSON-like ``value``."""
    pattern = _current()
    if pattern is None or depth > 64:
        return set()
    if isinstance(value, str):
        return {_values[m.group(0)] for m in pattern.finditer(value) if m.group(0) in _values}
    found: set[str] = set()
    items = value.items() if isinstance(value, dict) else value
    if isinstance(value, dict):
        for k, v in items:
            found |= names_in(k, depth + 1) | names_in(v, depth + 1)
    elif isinstance(value, list | tuple):
        for item in items:
            found |= names_in(item, depth + 1)
    return found


# -- logging -------------------------------------------------------------------------

_installed_factory: Any = None


def install_logging_redaction() -> None:
    """Mask registered values in every log record this process creates (idempotent).

    The message is formatted and masked when the record is made, and the traceback of
    ``exc_info`` is rendered and masked into ``exc_text``, which standard formatters use.
    """
    global _installed_factory
    with _lock:
        if _installed_factory is not None:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record: logging.LogRecord = previous(*args, **kwargs)
            if not _values:
                return record
            try:
                message = record.getMessage()
            except Exception:  # a malformed record: let the handler report it as usual
                return record
            masked = redact_text(message)
            if masked != message:
                record.msg, record.args = masked, None
            if record.exc_info and record.exc_info[0] is not None:
                record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            if record.stack_info:
                record.stack_info = redact_text(record.stack_info)
            return record

        logging.setLogRecordFactory(factory)
        _installed_factory = factory


# -- standard streams of a worker process ----------------------------------------------


class _MaskedStream:
    """A text stream that masks registered values in everything written through it."""

    def __init__(self, stream: Any) -> None:
        self._flowat_stream = stream

    def write(self, text: str) -> int:
        written = self._flowat_stream.write(redact_text(text) if isinstance(text, str) else text)
        return int(written) if written is not None else len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._flowat_stream, name)


def mask_standard_streams() -> None:
    """Mask registered values in ``sys.stdout`` and ``sys.stderr`` of this process.

    For processes FlowAt owns (the CLI and its workers), where step code may write to
    the streams directly (``sys.stdout.write``, a thread) rather than through the
    captured ``print``. Idempotent.
    """
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _MaskedStream):
            setattr(sys, name, _MaskedStream(stream))
