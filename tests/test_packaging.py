"""What the installed distribution puts on the import path, read from its metadata.

The repository keeps the folders ``connectors/`` and ``extension/``, but they install as
``flowat_connectors`` and ``flowat_extension``: FlowAt never installs a generic top-level
name that another distribution could also install. The connectors' entry points and the
Jupyter server config that enables the extension name modules that import, whether the
package was installed from a wheel or editable (``pip install -e .``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import import_module, metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The distribution an installer wrote (it records itself in INSTALLER), not the in-tree
# flowat.egg-info that setuptools leaves in the checkout, which is on sys.path when the
# tests run from it.
DIST = next(d for d in metadata.distributions(name="flowat") if d.read_text("INSTALLER"))
GENERIC = ("connectors", "extension")
CONFIG = "jupyter_server_config.d/flowat.json"


def top_level_names() -> set[str]:
    """The import names the distribution installs: declared, from its files, and editable."""
    names = set((DIST.read_text("top_level.txt") or "").split())
    for file in DIST.files or []:
        first = file.parts[0]
        if first in ("..", "__pycache__") or first.endswith((".dist-info", ".data", ".pth")):
            continue
        name = first.removesuffix(".py")
        if name.startswith("__editable__"):
            # setuptools' editable finder: the names it maps to folders in the checkout.
            finder = import_module(name)
            names.update(getattr(finder, "MAPPING", {}))
            continue
        names.add(name)
    return names


def test_only_flowat_owned_top_level_names_are_installed() -> None:
    names = top_level_names()
    assert {"flowat_kernel", "flowat_connectors", "flowat_extension"} <= names, names
    assert all(name.startswith("flowat") for name in names), names
    providers = metadata.packages_distributions()
    for name in GENERIC:
        assert "flowat" not in providers.get(name, []), (name, providers[name])


def test_generic_names_do_not_import_from_flowat() -> None:
    # From a directory that is not the checkout, so only installed packages are found.
    probe = (
        "import importlib.util, json; "
        f"print(json.dumps({{n: getattr(importlib.util.find_spec(n), 'origin', None) "
        f"for n in {list(GENERIC)!r}}}))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd="/"
    )
    for name, origin in json.loads(found.stdout).items():
        flowat_folders = (str(ROOT / name), str(DIST.locate_file(name)))
        assert origin is None or not origin.startswith(flowat_folders), (name, origin)


def test_every_connector_entry_point_loads() -> None:
    points = [ep for ep in DIST.entry_points if ep.group == "flowat.connectors"]
    assert {ep.name for ep in points} >= {"http", "sql", "files"}, points
    for ep in points:
        assert ep.module.startswith("flowat_connectors."), ep
        assert ep.load() is not None, ep


def test_the_server_extension_config_names_a_module_that_imports() -> None:
    configs = [DIST.locate_file(f) for f in DIST.files or [] if str(f).endswith(CONFIG)]
    assert configs, "the Jupyter server config is not installed (pip install -e . again?)"
    config = Path(str(configs[0]))
    assert config.is_file(), config
    assert json.loads(config.read_text()) == json.loads(
        (ROOT / "jupyter-config" / CONFIG).read_text()
    )
    enabled = json.loads(config.read_text())["ServerApp"]["jpserver_extensions"]
    assert enabled == {"flowat_extension": True}, enabled
    for module_name in enabled:
        module = import_module(module_name)
        for point in module._jupyter_server_extension_points():
            loaded = import_module(point["module"])
            assert callable(loaded._load_jupyter_server_extension), point
