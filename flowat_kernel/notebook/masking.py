"""Masking revealed secrets in what a kernel shows: streams, displays and tracebacks.

Installed when the extension loads. Until a secret is revealed in the kernel nothing is
registered and every hook passes output through untouched.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from flowat_kernel.vault.redaction import install_logging_redaction, redact_data, redact_text

__all__ = ["install_masking"]

_MARK = "_flowat_masked"


class _MaskedText(str):
    """What a traceback's exception value prints as, once masked."""


def _mask_stream(stream: Any) -> None:
    write = getattr(stream, "write", None)
    if write is None or getattr(write, _MARK, False):
        return

    def masked_write(text: str, *args: Any, **kwargs: Any) -> Any:
        return write(redact_text(text) if isinstance(text, str) else text, *args, **kwargs)

    setattr(masked_write, _MARK, True)
    # A C-level stream cannot take the attribute: it is masked at the display layer only.
    with contextlib.suppress(AttributeError, TypeError):
        stream.write = masked_write


def _mask_streams(*_: Any) -> None:
    _mask_stream(sys.stdout)
    _mask_stream(sys.stderr)


def _mask_result_error(result: Any) -> None:
    """Mask the error a cell's result carries (the kernel's reply quotes ``str(error)``).

    The exception is swapped for one of the same class name whose text is masked; the
    user's exception object itself (``sys.last_value``) is left alone.
    """
    for attribute in ("error_before_exec", "error_in_exec"):
        error = getattr(result, attribute, None)
        if error is None:
            continue
        text = str(error)
        masked = redact_text(text)
        if masked != text:
            stand_in = type(type(error).__name__, (Exception,), {})(masked)
            setattr(result, attribute, stand_in)


def install_masking(shell: Any) -> None:
    """Mask registered secret values in ``shell``'s output (idempotent)."""
    install_logging_redaction()
    _mask_streams()
    # IPython (>= 9) swaps ``write`` of sys.stdout/sys.stderr for a history tee during each
    # cell and puts the unmasked method back afterwards, so the mask is re-applied per cell.
    events = getattr(shell, "events", None)
    if events is not None and _mask_streams not in events.callbacks.get("pre_execute", []):
        events.register("pre_execute", _mask_streams)
    if events is not None and _mask_result_error not in events.callbacks.get("post_run_cell", []):
        events.register("post_run_cell", _mask_result_error)
    formatter = getattr(shell, "display_formatter", None)
    if formatter is not None and not getattr(formatter, _MARK, False):
        format_ = formatter.format

        def masked_format(obj: Any, *args: Any, **kwargs: Any) -> Any:
            data, metadata = format_(obj, *args, **kwargs)
            return redact_data(data), metadata

        formatter.format = masked_format
        setattr(formatter, _MARK, True)
    show = getattr(shell, "_showtraceback", None)
    if show is not None and not getattr(shell, _MARK, False):

        def masked_showtraceback(etype: Any, evalue: Any, stb: Any) -> Any:
            masked = _MaskedText(redact_text(str(evalue)))
            return show(etype, masked, [redact_text(line) for line in stb])

        shell._showtraceback = masked_showtraceback
        setattr(shell, _MARK, True)
