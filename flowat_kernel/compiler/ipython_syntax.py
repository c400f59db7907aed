"""IPython syntax in step cells: magics, ``!`` commands and what they read and define.

A step body is transformed exactly as IPython transforms a cell
(``IPython.core.inputtransformer2.TransformerManager``) before its names are analysed:
``%time x = f()`` becomes ``get_ipython().run_line_magic('time', 'x = f()')``. The
analysis then looks inside the magics that run Python code in the user's namespace, so
the names they define and read flow between steps as plain code does:

- line magics ``%time``, ``%prun`` and cell magics ``%%time``, ``%%prun``,
  ``%%capture [options] [name]``: their code runs in the namespace (``%%capture out``
  also defines ``out``);
- ``%timeit`` and ``%%timeit``: their code runs in a namespace of its own, so it only
  reads names;
- ``!cmd``, ``x = !cmd`` and every other line magic (and a cell magic's line): IPython
  expands ``$name`` and ``{expression}`` in them from the namespace, and leaves the text
  as it is when a name is missing, so those names are optional reads;
- any other cell magic (``%%bash``, ``%%writefile``, ``%%html`` ...): its body is not
  Python and defines and reads nothing.

IPython is imported only for a body that is not already plain Python.
"""

from __future__ import annotations

import ast
import difflib
import shlex
from dataclasses import dataclass, field
from functools import cache
from typing import Any

__all__ = [
    "MagicCall",
    "MagicCode",
    "PythonText",
    "code_of",
    "expanded_names",
    "magic_call",
    "to_python",
]

#: getopt-style option specs of the magics whose code the analysis reads.
_OPTIONS = {"prun": "D:l:rs:T:q", "timeit": "n:r:tcp:qo", "time": ""}
_CAPTURE_FLAGS = {"--no-stdout", "--no-stderr", "--no-display"}
#: Line magics IPython does not expand ``$name`` / ``{expr}`` in.
_NO_EXPANSION = {"time", "timeit", "prun"}


@dataclass(frozen=True)
class PythonText:
    """A step body as Python, with the map from its lines back to the user's lines.

    ``tree`` is the parsed text when :func:`to_python` already parsed it (a body that
    was plain Python), so that the analysis need not parse it again.
    """

    text: str
    _lines: tuple[int, ...] = ()
    tree: ast.Module | None = field(default=None, compare=False, repr=False)

    def original_line(self, line: int) -> int:
        """The user's 1-based line for ``line`` of the Python text."""
        if not self._lines or line < 1:
            return line
        return self._lines[min(line, len(self._lines)) - 1]


def _line_map(original: str, transformed: str) -> tuple[int, ...]:
    before, after = original.splitlines(), transformed.splitlines()
    mapped: list[int] = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for _, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        for offset in range(b_end - b_start):
            mapped.append(a_start + 1 + min(offset, max(a_end - a_start - 1, 0)))
    return tuple(mapped)


@cache
def _transformer() -> Any:
    """IPython's cell transformer, built once (it keeps no state between cells)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()  # type: ignore[no-untyped-call]


def to_python(body: str) -> PythonText:
    """Return ``body`` as IPython would run it: unchanged when it already parses."""
    try:
        tree = ast.parse(body)
    except (SyntaxError, ValueError):
        pass
    else:
        return PythonText(body, tree=tree)
    try:
        text = str(_transformer().transform_cell(body))
    except Exception:  # IPython could not transform it: Python's own error is the report
        return PythonText(body)
    return PythonText(text, _line_map(body, text))


@dataclass(frozen=True)
class MagicCall:
    """One ``get_ipython().…(...)`` call the transformation produced.

    ``kind`` is ``"line"``, ``"cell"``, ``"system"`` (``!cmd``) or ``"getoutput"``
    (``x = !cmd``); ``name`` the magic's name (empty for commands); ``line`` the magic's
    argument line or the command; ``body`` a cell magic's body.
    """

    kind: str
    name: str
    line: str
    body: str | None = None


def magic_call(node: ast.Call) -> MagicCall | None:
    """Recognise a call IPython's transformation writes for a magic or ``!`` command."""
    func = node.func
    if not (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "get_ipython"
        and not func.value.args
        and not node.keywords
        and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
    ):
        return None
    args = [str(a.value) for a in node.args if isinstance(a, ast.Constant)]
    if func.attr == "run_line_magic" and len(args) == 2:
        return MagicCall("line", args[0], args[1])
    if func.attr == "run_cell_magic" and len(args) == 3:
        return MagicCall("cell", args[0], args[1], args[2])
    if func.attr in ("system", "getoutput") and len(args) == 1:
        return MagicCall(func.attr, "", args[0])
    return None


def _strip_options(line: str, spec: str) -> str:
    """Drop leading getopt options (``-n 3 -r 2``) from a magic's line."""
    takes_value = {spec[i] for i in range(len(spec) - 1) if spec[i + 1] == ":"}
    rest = line.lstrip()
    while rest.startswith("-") and len(rest) > 1 and rest[1] in spec:
        flag, _, tail = rest[1:].partition(" ")
        letters = flag
        rest = tail.lstrip()
        for index, letter in enumerate(letters):
            if letter in takes_value:
                if index == len(letters) - 1:  # the value is the next word
                    _, _, rest = rest.partition(" ")
                    rest = rest.lstrip()
                break
    return rest


@dataclass(frozen=True)
class MagicCode:
    """The Python a magic runs.

    ``code`` is the text, ``shared`` whether it runs in the user's namespace, and
    ``assigns`` the name the magic assigns its result to (``%%capture out``).
    """

    code: str
    shared: bool
    assigns: str | None = None


def code_of(call: MagicCall) -> list[MagicCode]:
    """The Python code ``call`` runs, in order; empty when it runs none."""
    if call.kind == "line" and call.name in _OPTIONS:
        code = _strip_options(call.line, _OPTIONS[call.name])
        return [MagicCode(code, shared=call.name != "timeit")]
    if call.kind != "cell" or call.body is None:
        return []
    if call.name in ("time", "prun"):
        return [MagicCode(call.body, shared=True)]
    if call.name == "timeit":
        setup = _strip_options(call.line, _OPTIONS["timeit"])
        return [MagicCode(setup, shared=False), MagicCode(call.body, shared=False)]
    if call.name == "capture":
        try:
            words = [w for w in shlex.split(call.line) if w not in _CAPTURE_FLAGS]
        except ValueError:
            words = []
        name = words[0] if words and words[0].isidentifier() else None
        return [MagicCode(call.body, shared=True, assigns=name)]
    return []


def expanded_names(call: MagicCall) -> set[str]:
    """Names IPython reads from the namespace to expand ``$name`` and ``{expr}``."""
    if call.kind in ("line", "cell") and call.name in _NO_EXPANSION:
        return set()
    if call.kind == "cell" and call.name == "capture":
        return set()
    from IPython.utils.text import DollarFormatter

    names: set[str] = set()
    try:
        fields = [f for _, f, _, _ in DollarFormatter().parse(call.line) if f]
    except ValueError:
        return names
    for text in fields:
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except (SyntaxError, ValueError):
            continue
        names |= {
            n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
        }
    return names
