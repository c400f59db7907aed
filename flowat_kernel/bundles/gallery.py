"""The template gallery: bundles shipped with FlowAt, plus folders the user adds.

Templates are ``.flowat`` bundle files. FlowAt's own are under
``flowat_kernel/templates/gallery/``; ``FLOWAT_TEMPLATE_PATHS`` (folders separated by
``:``) adds more. A template's name is its file's name without ``.flowat``; a folder in
``FLOWAT_TEMPLATE_PATHS`` comes before the ones after it and before FlowAt's own, so a
user's template of the same name replaces a shipped one. A file that is not a valid
bundle is reported (``problems``), never half-read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowat_kernel.bundles.format import Bundle, BundleError, read_bundle
from flowat_kernel.bundles.importing import Imported, import_bundle, requirements_of
from flowat_kernel.errors import NotFoundError

if TYPE_CHECKING:
    from flowat_kernel.workspace import Workspace

__all__ = [
    "BUILTIN_GALLERY",
    "PATHS_VARIABLE",
    "Gallery",
    "Template",
    "gallery",
    "use_template",
]

#: FlowAt's own templates.
BUILTIN_GALLERY = Path(__file__).resolve().parents[1] / "templates" / "gallery"
PATHS_VARIABLE = "FLOWAT_TEMPLATE_PATHS"
_MAX_FILES = 1000


@dataclass(frozen=True)
class Template:
    """One template: its name, where it was found, and its bundle."""

    name: str
    path: Path
    origin: str
    bundle: Bundle

    def row(self) -> dict[str, Any]:
        """A short description, for listings."""
        needs = requirements_of(self.bundle)
        return {
            "name": self.name,
            "description": self.bundle.description.split("\n", 1)[0],
            "tags": list(self.bundle.tags),
            "secrets": list(needs.secrets),
            "origin": self.origin,
        }

    def details(self) -> dict[str, Any]:
        """Everything ``flowat templates show`` tells: parameters, needs, steps."""
        spec = self.bundle.workflow_spec()
        return {
            **self.row(),
            "description": self.bundle.description,
            "path": str(self.path),
            "workflow": self.bundle.name,
            "parameters": [p.model_dump(mode="json") for p in self.bundle.parameters],
            "requires": requirements_of(self.bundle).model_dump(mode="json"),
            "steps": [s.name for s in spec.steps],
            "spec_hash": self.bundle.spec_hash,
        }


@dataclass(frozen=True)
class Gallery:
    """Every template found, by name, and the files that could not be read."""

    templates: dict[str, Template]
    problems: dict[str, str]

    def list(self, tag: str | None = None) -> list[Template]:
        """Templates by name; with ``tag``, only those tagged so (case-insensitive)."""
        found = sorted(self.templates.values(), key=lambda t: t.name)
        if tag:
            found = [t for t in found if tag.strip().lower() in t.bundle.tags]
        return found

    def get(self, name: str) -> Template:
        """The template called ``name``.

        Raises:
            NotFoundError: there is none; the message lists the names there are.

        """
        if name in self.templates:
            return self.templates[name]
        problem = next((p for f, p in self.problems.items() if Path(f).stem == name), None)
        if problem is not None:
            raise BundleError(f"template {name!r} cannot be used: {problem}")
        raise NotFoundError(
            f"no template named {name!r}; the gallery has: {', '.join(sorted(self.templates))} "
            "(flowat templates list)"
        )


def _folders() -> list[tuple[Path, str]]:
    raw = os.environ.get(PATHS_VARIABLE, "")
    folders = [(Path(p).expanduser(), "user") for p in raw.split(":") if p.strip()]
    return [*folders, (BUILTIN_GALLERY, "flowat")]


def gallery() -> Gallery:
    """Read every template folder (see the module's documentation)."""
    templates: dict[str, Template] = {}
    problems: dict[str, str] = {}
    for folder, origin in _folders():
        if not folder.is_dir():
            if origin == "user":
                problems[str(folder)] = f"{PATHS_VARIABLE} names {folder}, not a folder"
            continue
        for path in sorted(folder.glob("*.flowat"))[:_MAX_FILES]:
            if path.stem in templates:
                continue
            try:
                bundle = read_bundle(path)
            except BundleError as exc:
                problems[str(path)] = str(exc)
                continue
            templates[path.stem] = Template(path.stem, path, origin, bundle)
    return Gallery(templates, problems)


def use_template(
    workspace: Workspace,
    template: str,
    *,
    name: str,
    directory: str | Path | None = None,
    force: bool = False,
) -> Imported:
    """Publish template ``template`` as workflow ``name`` and write its notebook.

    Missing connectors or packages stop it; missing secrets do not (the result lists
    them, with how to set them), since a template is often tried before its keys exist.
    """
    chosen = gallery().get(template)
    return import_bundle(
        workspace,
        chosen.bundle,
        name=name,
        directory=directory,
        force=force,
        require_secrets=False,
    )
