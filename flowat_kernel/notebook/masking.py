"""Masking revealed secrets in what a kernel shows: streams, displays and tracebacks.

Installed when the extension loads. Until a secret is revealed in the kernel nothing is
registered and every hook passes output through untouched.
"""

from __future__ import annotations

import sys
from typing import Any

from flowat_kernel.vault.redaction import install_logging_redaction, redact_data, redact_text

__all__ = ["install_masking"]

_MARK = "_flowat_masked"


class _MaskedText(str):
    """What a traceback's exception value prints as, once masked."""


def _mask_stream(stream: Any) -> None:
    if stream is None or getattr(stream, _MARK, False):
        return
    write = stream.write

    def masked_write(text: str) -> Any:
        return write(redact_text(text) if isinstance(text, str) else text)

    try:
        stream.write = masked_write
        setattr(stream, _MARK, True)
    except (AttributeError, TypeError):  # a C-level stream: masked at the display layer only
        pass


def install_masking(shell: Any) -> None:
    """Mask registered secret values in ``shell``'s output (idempotent)."""
    install_logging_redaction()
    _mask_stream(sys.stdout)
    _mask_stream(sys.stderr)
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
