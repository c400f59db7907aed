"""Build the shipped template gallery from the notebooks in this folder.

Each ``templates/NAME.ipynb`` (its ``metadata.flowat`` holding the workflow's name and a
``template`` with description and tags) is compiled and written as
``flowat_kernel/templates/gallery/NAME.flowat``. Run after editing a template::

    python templates/build.py

``tests/bundles/test_gallery.py`` fails when a shipped bundle differs from its notebook.
"""

from __future__ import annotations

from pathlib import Path

from flowat_kernel.bundles import bundle_from_notebook, write_bundle
from flowat_kernel.bundles.gallery import BUILTIN_GALLERY

HERE = Path(__file__).resolve().parent


def main() -> None:
    """Write one bundle per template notebook (and drop bundles whose notebook is gone)."""
    BUILTIN_GALLERY.mkdir(parents=True, exist_ok=True)
    names = set()
    for notebook in sorted(HERE.glob("*.ipynb")):
        bundle = bundle_from_notebook(notebook)
        write_bundle(bundle, BUILTIN_GALLERY / f"{notebook.stem}.flowat")
        names.add(notebook.stem)
        print(f"{notebook.name} -> {notebook.stem}.flowat ({bundle.spec_hash[:19]})")
    for stale in BUILTIN_GALLERY.glob("*.flowat"):
        if stale.stem not in names:
            stale.unlink()
            print(f"removed {stale.name}")


if __name__ == "__main__":
    main()
