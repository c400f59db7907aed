"""Prompt templates by name: the run's version's, or the notebook's while trying steps.

``llm.chat`` and ``llm.agent`` take ``prompt_name="NAME"`` for a template kept as a
``%%flowat prompt NAME`` cell or a ``prompts/NAME.md`` file next to the notebook. In a
workflow run the name is looked up in the prompts captured into the run's version at
publish time (the worker sets them on the step's scope), so a file changed after
publishing changes nothing that runs; in a notebook, in the prompt cells this kernel
ran, then in the files of its folder.
"""

from __future__ import annotations

from pathlib import Path

from flowat_kernel.compiler.cells import prompt_file_cells, split_prompt_cell
from flowat_kernel.errors import FlowAtError
from flowat_kernel.step_context import current_scope

__all__ = ["PromptNotFound", "kernel_prompts", "resolve_prompt"]

#: Prompt cells (``%%flowat prompt NAME``) this kernel ran, by name.
kernel_prompts: dict[str, str] = {}


class PromptNotFound(FlowAtError):
    """No prompt template of that name where the step looks for it."""


def resolve_prompt(name: str) -> str:
    """The text of prompt template ``name``.

    Raises:
        PromptNotFound: says where it looked and which prompts there are.

    """
    scope = current_scope()
    if scope is not None and scope.prompts is not None:
        if name in scope.prompts:
            return scope.prompts[name]
        known = ", ".join(sorted(scope.prompts)) or "none"
        raise PromptNotFound(
            f"prompt {name!r} is not part of workflow {scope.workflow!r}'s version this run "
            f"runs (its prompts: {known}); add a `%%flowat prompt {name}` cell or a "
            f"prompts/{name}.md file, name it in the step, and publish again"
        )
    if name in kernel_prompts:
        return kernel_prompts[name]
    files: dict[str, str] = {}
    for cell in prompt_file_cells(Path.cwd()):
        split = split_prompt_cell(cell.source)
        if split is not None:
            files.setdefault(split[0], split[1])
    if name in files:
        return files[name]
    known = ", ".join(sorted({*kernel_prompts, *files})) or "none"
    raise PromptNotFound(
        f"no prompt {name!r}: run a `%%flowat prompt {name}` cell first, or add "
        f"prompts/{name}.md next to the notebook (prompts found: {known})"
    )
