"""Packaging that pyproject.toml cannot declare on its own.

pyproject.toml holds the metadata and the ``package-dir`` mapping that installs the
``connectors/`` and ``extension/`` folders as ``flowat_connectors`` and
``flowat_extension``. A mapped package cannot be found by ``packages.find``, so the
package list is computed here: ``flowat_kernel`` with every package under it (folders
without ``__init__.py`` included, as ``packages.find`` does), plus the two mapped ones.

setuptools' editable wheels (``pip install -e .``) look for ``has_data`` to decide
whether to install data files, a name its ``Distribution`` does not define, so they leave
out ``[tool.setuptools.data-files]``: the Jupyter config that enables the server
extension. ``FlowAtDistribution`` answers that question, so an editable install enables
the extension exactly as a wheel does.
"""

from setuptools import find_namespace_packages, setup
from setuptools.dist import Distribution


class FlowAtDistribution(Distribution):
    """setuptools' distribution, telling editable wheels that it has data files."""

    def has_data(self) -> bool:
        """Whether there are data files to install (asked by editable wheels)."""
        return self.has_data_files()


setup(
    distclass=FlowAtDistribution,
    packages=[
        *find_namespace_packages(include=["flowat_kernel", "flowat_kernel.*"]),
        "flowat_connectors",
        "flowat_extension",
    ],
)
