"""nbformat behind types: it ships no type hints, so its nodes are ``Any`` here."""

from __future__ import annotations

from typing import Any

import nbformat
from nbformat import v4 as _v4

__all__ = ["Node", "from_dict", "v4", "validate"]

#: An ``nbformat.NotebookNode`` (a dict with attribute access).
Node = Any
v4: Any = _v4
validate: Any = nbformat.validate
from_dict: Any = nbformat.from_dict
