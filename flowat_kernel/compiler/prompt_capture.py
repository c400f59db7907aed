"""Prompt templates captured into a version: ``%%flowat prompt NAME`` cells and files.

A prompt is a template (``{{ expression }}`` placeholders, see ``docs/ai.md``) that
``llm.chat`` and ``llm.agent`` steps name with ``prompt_name = "NAME"``. It comes from a
``%%flowat prompt NAME`` cell (the rest of the cell is the text) or from a file
``prompts/NAME.md`` (or ``.txt``) next to the notebook, which reaches the compiler as a
cell of type :data:`PROMPT_FILE` (see :func:`~flowat_kernel.compiler.cells.prompt_file_cells`).
Every prompt cell is captured; a file only when a step names it. Pure: no I/O.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

from flowat_kernel.compiler.cells import PROMPT_FILE, Cell, split_prompt_cell
from flowat_kernel.diagnostics import Diagnostic
from flowat_kernel.expressions import ExpressionError, parse
from flowat_kernel.spec import PromptSpec, StepSpec

__all__ = [
    "PLACEHOLDER",
    "PROMPT_ACTIONS",
    "capture_prompts",
    "placeholder_problem",
    "prompt_references",
]

#: ``{{ expression }}``; the expression may not contain ``}}``.
PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)

#: The actions whose ``prompt_name`` input names a prompt of the workflow.
PROMPT_ACTIONS: frozenset[str] = frozenset({"llm.chat", "llm.agent"})
_MAX_PROMPT = 100_000


def prompt_references(step: StepSpec) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """The prompts ``step`` names (``prompt_name = "NAME"``), and refused assignments.

    Returns (names with their body line, non-literal assignments with theirs); lines are
    1-based in the body. Only ``llm.chat`` and ``llm.agent`` action steps name prompts.
    """
    if step.kind != "action" or step.action not in PROMPT_ACTIONS:
        return [], []
    try:
        tree = ast.parse(step.source)
    except SyntaxError:
        return [], []  # reported as the step's syntax error
    named: list[tuple[str, int]] = []
    refused: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign | ast.AnnAssign):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if not any(isinstance(t, ast.Name) and t.id == "prompt_name" for t in targets):
            continue
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            named.append((value.value, node.lineno))
        elif not (isinstance(value, ast.Constant) and value.value is None):
            refused.append(("", node.lineno))
    return named, refused


def placeholder_problem(text: str) -> str | None:
    """Why a placeholder of template ``text`` would be refused when rendered, or ``None``.

    Each placeholder must be an expression of FlowAt's expression language: no
    attributes starting with ``_``, no imports, no builtins beyond its helpers.
    """
    for match in PLACEHOLDER.finditer(text):
        expression = match.group(1).strip()
        if not expression:
            return "an empty placeholder {{ }}: write {{ name }} with a variable's name"
        try:
            parse(expression)
        except ExpressionError as exc:
            return f"placeholder {{{{ {expression} }}}}: {exc.reason}"
    return None


def _problem(code: str, message: str, cell: Cell, step: str | None = None) -> Diagnostic:
    return Diagnostic(code, message, step=step, cell=cell.position, line=1)


def capture_prompts(
    cells: Sequence[Cell], steps: Sequence[tuple[StepSpec, int]], problems: list[Diagnostic]
) -> tuple[PromptSpec, ...]:
    """The prompts of the version: every prompt cell, and each file a step names.

    ``steps`` pairs each compiled step with its cell's position. Problems (a bad or
    repeated name, an unknown or non-literal ``prompt_name``) go to ``problems``.
    """
    found: dict[str, PromptSpec] = {}
    files: dict[str, PromptSpec] = {}
    for cell in cells:
        if cell.cell_type not in ("code", PROMPT_FILE):
            continue
        split = split_prompt_cell(cell.source)
        if split is None:
            continue
        name, text = split
        where = f"prompt file {cell.cell_id}" if cell.cell_type == PROMPT_FILE else "the cell"
        if not name.isidentifier():
            problems.append(
                _problem(
                    "bad-option",
                    f"{where}: {name!r} is not a prompt name; write %%flowat prompt NAME with "
                    "a Python identifier (a file prompts/NAME.md likewise)",
                    cell,
                )
            )
            continue
        if len(text) > _MAX_PROMPT:
            problems.append(
                _problem(
                    "bad-option",
                    f"{where}: prompt {name!r} has {len(text)} characters; the most is "
                    f"{_MAX_PROMPT}",
                    cell,
                )
            )
            continue
        wrong = placeholder_problem(text)
        if wrong is not None:
            problems.append(_problem("bad-prompt", f"{where}: prompt {name!r}: {wrong}", cell))
            continue
        if cell.cell_type == PROMPT_FILE:
            files.setdefault(name, PromptSpec(name=name, text=text, file=cell.cell_id))
            continue
        if name in found:
            problems.append(
                _problem(
                    "duplicate-step",
                    f"prompt {name!r} is defined by two cells; give each prompt its own name",
                    cell,
                )
            )
            continue
        found[name] = PromptSpec(name=name, text=text)
    for step, position in steps:
        named, refused = prompt_references(step)
        for _, line in refused:
            problems.append(
                Diagnostic(
                    "bad-option",
                    'prompt_name must be a string literal (prompt_name = "NAME") so that '
                    "publishing can capture the prompt into the version",
                    step=step.name,
                    cell=position,
                    line=line + 1,
                )
            )
        for name, line in named:
            if name in found:
                continue
            if name in files:
                found[name] = files[name]
                continue
            known = ", ".join(sorted({*found, *files})) or "none"
            problems.append(
                Diagnostic(
                    "undefined-name",
                    f"names prompt {name!r}, which no `%%flowat prompt {name}` cell and no "
                    f"prompts/{name}.md file next to the notebook defines (prompts: {known})",
                    step=step.name,
                    cell=position,
                    line=line + 1,
                )
            )
    return tuple(sorted(found.values(), key=lambda p: p.name))
