"""Making bundles: from a published version (``flowat export``) or from a notebook file."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowat_kernel.bundles.format import (
    FORMAT_VERSION,
    Bundle,
    BundleError,
    Requirements,
    bundle_bytes,
    notebook_hash,
)
from flowat_kernel.bundles.notebooks import notebook_from_file, notebook_from_spec
from flowat_kernel.bundles.requirements import derive_requirements, merged
from flowat_kernel.spec import WorkflowSpec

if TYPE_CHECKING:
    from flowat_kernel.workspace import Workspace

__all__ = ["build_bundle", "bundle_from_notebook", "check_tags", "export_bundle", "write_bundle"]

_TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def _flowat_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("flowat")
    except PackageNotFoundError:  # pragma: no cover - running from a plain checkout
        return "unknown"


def check_tags(tags: Sequence[str]) -> tuple[str, ...]:
    """Tags in lower case, each checked, duplicates dropped, order kept.

    Raises:
        BundleError: a tag is not 1-40 of a-z, 0-9, ``-`` and ``_``.

    """
    kept: list[str] = []
    for tag in tags:
        word = tag.strip().lower()
        if not _TAG.match(word):
            raise BundleError(f"tag {tag!r}: use 1 to 40 of a-z, 0-9, - and _ (starting a-z0-9)")
        if word not in kept:
            kept.append(word)
    return tuple(kept)


def build_bundle(
    spec: WorkflowSpec,
    notebook: dict[str, Any],
    *,
    description: str = "",
    tags: Sequence[str] = (),
    source: dict[str, Any] | None = None,
    declared: Requirements | None = None,
) -> Bundle:
    """A bundle of ``spec`` with ``notebook``, its requirements derived from the spec."""
    needs = derive_requirements(spec)
    if declared is not None:
        needs = merged(declared, needs)
    return Bundle(
        flowat_bundle=FORMAT_VERSION,
        name=spec.name,
        description=description.strip(),
        tags=check_tags(tags),
        source={"flowat": _flowat_version(), **(source or {})},
        parameters=spec.inputs,
        requires=needs,
        spec=spec.model_dump(mode="json"),
        spec_hash=spec.content_hash(),
        notebook=notebook,
        notebook_hash=notebook_hash(notebook),
    )


def export_bundle(
    workspace: Workspace,
    workflow: str,
    *,
    version: int | None = None,
    description: str = "",
    tags: Sequence[str] = (),
) -> Bundle:
    """A bundle of one published version (the latest by default).

    The version's notebook is rebuilt from its spec (versions keep no notebook).

    Raises:
        Forbidden: the principal may not read workflows.
        NotFoundError: no such workflow or version visible to the principal.

    """
    record = workspace.version(workflow, version)
    notebook = notebook_from_spec(record.spec, description)
    return build_bundle(
        record.spec,
        notebook,
        description=description,
        tags=tags,
        source={"workflow": record.workflow, "version": record.number},
    )


def bundle_from_notebook(path: str | Path, workflow: str | None = None) -> Bundle:
    """A bundle of the notebook file at ``path``, compiled statically (nothing stored).

    The workflow's name is ``workflow``, else the notebook's ``metadata.flowat.workflow``;
    the description, tags and any extra requirements come from
    ``metadata.flowat.template`` (``description``, ``tags``, ``secrets``, ``connectors``).

    Raises:
        BundleError: the notebook cannot be read, or names no workflow.
        CompileError: its cells do not compile.

    """
    from flowat_kernel.spec.model import metadata_on_failure
    from flowat_kernel.workspace import compile_workflow

    notebook = notebook_from_file(path)
    metadata = notebook.get("metadata") or {}
    flowat = metadata.get("flowat") or {}
    name = workflow or flowat.get("workflow")
    if not name:
        raise BundleError(f"{path}: give the workflow's name (metadata.flowat.workflow is unset)")
    spec = compile_workflow(name, notebook=path)
    on_failure = metadata_on_failure(metadata)
    if on_failure is not None and on_failure != spec.on_failure:
        spec = WorkflowSpec.model_validate({**spec.model_dump(), "on_failure": on_failure})
    template = flowat.get("template") or {}
    declared = Requirements(
        connectors=tuple(template.get("connectors") or ()),
        secrets=tuple(template.get("secrets") or ()),
    )
    return build_bundle(
        spec,
        notebook,
        description=str(template.get("description") or ""),
        tags=list(template.get("tags") or ()),
        source={"notebook": Path(path).name},
        declared=declared,
    )


def write_bundle(bundle: Bundle, path: str | Path, *, force: bool = True) -> Path:
    """Write ``bundle`` to ``path`` (refusing to overwrite unless ``force``)."""
    target = Path(path)
    if target.exists() and not force:
        raise BundleError(f"{target} already exists; give --force to overwrite it")
    if not target.parent.is_dir():
        raise BundleError(f"cannot write {target}: folder {target.parent} does not exist")
    target.write_bytes(bundle_bytes(bundle))
    return target
