"""Importing a bundle: check it, check what it needs, publish it, write its notebook.

Publishing goes through the :class:`~flowat_kernel.workspace.Workspace`, so the role
checks (and the untrusted marking of code published by anyone but an Owner) are those
of every publish. Nothing is published when the bundle is refused, when something it
needs is missing, or when its notebook would overwrite a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowat_kernel.bundles.format import Bundle, BundleError, Requirements
from flowat_kernel.bundles.notebooks import (
    notebook_target,
    prompt_file_conflicts,
    write_notebook,
    write_prompt_files,
)
from flowat_kernel.bundles.requirements import (
    derive_requirements,
    merged,
    missing_requirements,
    refuse_missing,
)
from flowat_kernel.spec import WorkflowSpec

if TYPE_CHECKING:
    from flowat_kernel.workspace import Published, Workspace

__all__ = ["Imported", "import_bundle", "requirements_of"]


@dataclass(frozen=True)
class Imported:
    """The outcome of an import: the version published, the notebook, secrets to set.

    ``missing_secrets`` is filled only when the import was told not to require them.
    """

    published: Published
    notebook: Path | None
    requires: Requirements
    missing_secrets: tuple[str, ...] = field(default=())

    def document(self) -> dict[str, Any]:
        """As JSON, for ``--json`` and the REST API."""
        version = self.published.version
        return {
            "workflow": version.workflow,
            "version": version.number,
            "created": self.published.created,
            "spec_hash": version.spec_hash,
            "notebook": str(self.notebook) if self.notebook is not None else None,
            "requires": self.requires.model_dump(mode="json"),
            "missing_secrets": list(self.missing_secrets),
        }

    def summary(self) -> str:
        """Lines for a person: what was published, where the notebook went, what to set."""
        lines = [self.published.summary()]
        if self.notebook is not None:
            lines.append(f"notebook written to {self.notebook}")
        for name in self.missing_secrets:
            lines.append(
                f"secret {name!r} is not set yet: flowat secrets set {name} < value-file "
                f"(in a notebook: %flowat secret set {name})"
            )
        return "\n".join(lines)


def _renamed(spec: WorkflowSpec, name: str) -> WorkflowSpec:
    if name == spec.name:
        return spec
    return WorkflowSpec.parse({**spec.model_dump(mode="json"), "name": name})


def requirements_of(bundle: Bundle) -> Requirements:
    """What ``bundle`` needs: what it declares together with what its spec shows."""
    return merged(bundle.requires, derive_requirements(bundle.workflow_spec()))


def import_bundle(
    workspace: Workspace,
    bundle: Bundle,
    *,
    name: str | None = None,
    directory: str | Path | None = None,
    write: bool = True,
    force: bool = False,
    require_secrets: bool = True,
) -> Imported:
    """Publish ``bundle`` as workflow ``name`` (its own name by default).

    Its notebook is written to ``DIRECTORY/NAME.ipynb`` (the current folder by default)
    unless ``write`` is false. With ``require_secrets`` off, missing secrets do not stop
    the import; they are listed in the result (``flowat templates use``).

    Raises:
        Forbidden: the principal may not publish workflows (or read secret names).
        BundleError: the bundle changed after export, something it needs is missing
            (all of it listed at once), or the notebook would overwrite a file.

    """
    spec = _renamed(bundle.workflow_spec(), name or bundle.name)
    bundle.check_notebook()
    workspace.principal.require("workflows:write", spec.name)
    needs = requirements_of(bundle)
    secret_names = [s.name for s in workspace.list_secrets()] if needs.secrets else []
    missing = missing_requirements(needs, secret_names)
    left: list[str] = []
    if not require_secrets:
        left, missing["secrets"] = missing["secrets"], []
    refuse_missing(spec.name, missing)
    target = notebook_target(directory, spec.name, force) if write else None
    clashes = prompt_file_conflicts(spec, target.parent) if target is not None else []
    if clashes and not force:
        raise BundleError(
            f"{', '.join(str(p) for p in clashes)} already exist with other text; nothing "
            "was imported. Give --force to overwrite, or --dir to write elsewhere"
        )
    published = workspace.publish(spec.name, spec=spec)
    written = write_notebook(bundle.notebook, target, spec.name) if target is not None else None
    if target is not None:
        write_prompt_files(spec, target.parent)
    return Imported(published, written, needs, tuple(left))
