"""``%flowat export``, ``%flowat import`` and ``%flowat templates``, in a notebook.

The same use cases as the command line (:mod:`flowat_kernel.cli.bundles`), with the
notebook's default workspace; each returns an object that shows itself as text.
"""

from __future__ import annotations

import argparse
import html
from typing import Any

__all__ = [
    "BundleOutcome",
    "export",
    "import_",
    "templates_list",
    "templates_show",
    "templates_use",
]


class BundleOutcome:
    """What a bundle magic did: ``.text`` to read, ``.data`` (JSON) to use in code."""

    def __init__(self, text: str, data: Any) -> None:
        self.text = text
        self.data = data

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.text)}</pre>"


def export(magics: Any, args: argparse.Namespace) -> BundleOutcome:
    """``%flowat export W [--version N] [-o W.flowat]``."""
    from flowat_kernel.api import default_workspace
    from flowat_kernel.bundles import export_bundle, write_bundle

    bundle = export_bundle(
        default_workspace(),
        args.workflow,
        version=args.version,
        description=args.description or "",
        tags=args.tag or (),
    )
    path = write_bundle(bundle, args.output or f"{args.workflow}.flowat", force=args.force)
    data = {"path": str(path), "workflow": bundle.name, "version": bundle.source.get("version")}
    return BundleOutcome(f"{bundle.name} v{data['version']} exported to {path}", data)


def import_(magics: Any, args: argparse.Namespace) -> BundleOutcome:
    """``%flowat import FILE [--name X] [--dir D] [--force]``."""
    from flowat_kernel.api import default_workspace
    from flowat_kernel.bundles import import_bundle, read_bundle

    imported = import_bundle(
        default_workspace(),
        read_bundle(args.file),
        name=args.name,
        directory=args.dir,
        force=args.force,
    )
    return BundleOutcome(imported.summary(), imported.document())


def templates_list(magics: Any, args: argparse.Namespace) -> Any:
    """``%flowat templates list [--tag T]``: a data frame."""
    import pandas as pd

    from flowat_kernel.bundles import gallery

    rows = [t.row() for t in gallery().list(args.tag)]
    return pd.DataFrame(rows, columns=["name", "tags", "secrets", "description", "origin"])


def templates_show(magics: Any, args: argparse.Namespace) -> BundleOutcome:
    """``%flowat templates show NAME``."""
    from flowat_kernel.bundles import gallery
    from flowat_kernel.cli.bundles import describe_template

    details = gallery().get(args.template).details()
    return BundleOutcome(describe_template(details), details)


def templates_use(magics: Any, args: argparse.Namespace) -> BundleOutcome:
    """``%flowat templates use NAME --name X [--dir D]``."""
    from flowat_kernel.api import default_workspace
    from flowat_kernel.bundles import use_template

    imported = use_template(
        default_workspace(), args.template, name=args.name, directory=args.dir, force=args.force
    )
    return BundleOutcome(imported.summary(), imported.document())
