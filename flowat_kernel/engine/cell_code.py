"""Compiling a step's cell body so tracebacks show its lines and name its cell line.

Light on purpose (standard library only): the sandbox's child process imports it too.
"""

from __future__ import annotations

import linecache
import traceback
import types

__all__ = ["cell_line", "compile_cell"]


def compile_cell(source: str, filename: str) -> types.CodeType:
    """Compile ``source`` for ``exec``; its lines are cached so tracebacks can show them."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return compile(source, filename, "exec")


def cell_line(tb: types.TracebackType | None, filename: str) -> int | None:
    """The cell line (the ``%%flowat step`` line is line 1) of the last frame in ``filename``."""
    line = None
    for frame, lineno in traceback.walk_tb(tb):
        if frame.f_code.co_filename == filename:
            line = lineno + 1
    return line
