"""Workflows as shareable files (``.flowat`` bundles) and the template gallery.

- :mod:`.format`: the bundle document, reading it safely, its hashes.
- :mod:`.requirements`: the connectors, packages and secret names a spec needs.
- :mod:`.notebooks`: the notebook a bundle carries, and writing it out.
- :mod:`.export`: bundles from a published version or a notebook file.
- :mod:`.importing`: checking and publishing a bundle through the workspace.
- :mod:`.gallery`: the shipped templates and ``FLOWAT_TEMPLATE_PATHS``.

docs/templates.md describes the format and the gallery.
"""

from flowat_kernel.bundles.export import bundle_from_notebook, export_bundle, write_bundle
from flowat_kernel.bundles.format import (
    FORMAT_VERSION,
    Bundle,
    BundleError,
    bundle_bytes,
    parse_bundle,
    read_bundle,
)
from flowat_kernel.bundles.gallery import Gallery, Template, gallery, use_template
from flowat_kernel.bundles.importing import Imported, import_bundle

__all__ = [
    "FORMAT_VERSION",
    "Bundle",
    "BundleError",
    "Gallery",
    "Imported",
    "Template",
    "bundle_bytes",
    "bundle_from_notebook",
    "export_bundle",
    "gallery",
    "import_bundle",
    "parse_bundle",
    "read_bundle",
    "use_template",
    "write_bundle",
]
