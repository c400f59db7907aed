"""The prebuilt JupyterLab extension ships with the package and is enabled on install.

The extension is built from ``labextension/`` (TypeScript) into ``extension/labextension/``
and committed, so installing FlowAt needs no Node.js; these tests check that the
committed build is the build of the committed sources, that a wheel carries it to
``share/jupyter/labextensions/flowat-jupyterlab/``, and that ``jupyter labextension
list`` shows it enabled after a plain wheel install and in this (editable) environment.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "labextension"
BUILT = ROOT / "extension" / "labextension"
INSTALLED = "share/jupyter/labextensions/flowat-jupyterlab"


def _source_hash() -> str:
    """The hash labextension/scripts/source-hash.mjs records at build time."""
    names = ["package.json", "package-lock.json", "tsconfig.json"]
    for folder in ("src", "style", "schema"):
        names += [
            p.relative_to(SOURCES).as_posix() for p in (SOURCES / folder).rglob("*") if p.is_file()
        ]
    digest = hashlib.sha256()
    for name in sorted(names):
        digest.update(name.encode() + b"\0" + (SOURCES / name).read_bytes() + b"\0")
    return digest.hexdigest()


def _enabled(listing: str) -> bool:
    return any(
        line.split()[:2] == ["flowat-jupyterlab", "v0.1.0"]
        and "enabled" in line
        and "OK" in line
        and "(python, flowat)" in line
        for line in listing.replace("\x1b[32m", "").replace("\x1b[0m", "").splitlines()
    )


def test_the_committed_build_is_built_from_the_committed_sources() -> None:
    recorded = (BUILT / "source-hash.txt").read_text().strip()
    assert recorded == _source_hash(), (
        "extension/labextension/ is not the build of labextension/'s sources: "
        "run `npm ci && npm run build` in labextension/ and commit the result"
    )
    meta = json.loads((BUILT / "package.json").read_text())
    assert meta["name"] == "flowat-jupyterlab"
    entry = meta["jupyterlab"]["_build"]["load"]
    assert (BUILT / entry).is_file(), entry
    static = {p.name for p in (BUILT / "static").iterdir()}
    assert Path(entry).name in static and "style.js" in static


def test_a_wheel_install_enables_the_labextension(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    wheel = next(tmp_path.glob("flowat-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    data = f"flowat-0.1.0.data/data/{INSTALLED}"
    expected = {f"{data}/package.json", f"{data}/install.json"} | {
        f"{data}/static/{p.name}" for p in (BUILT / "static").iterdir()
    }
    expected.add(f"{data}/schemas/flowat-jupyterlab/plugin.json")  # settings and shortcuts
    assert expected <= names, sorted(expected - names)
    assert not any("node_modules" in n or n.endswith(".ts") for n in names)

    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deps = sysconfig.get_paths()["purelib"]
    (Path(site) / "zz_deps.pth").write_text(f"import site; site.addsitedir({deps!r})\n")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    assert (env_dir / INSTALLED / "static" / "style.js").is_file()
    assert (env_dir / INSTALLED / "schemas" / "flowat-jupyterlab" / "plugin.json").is_file()
    listed = subprocess.run(
        [str(python), "-m", "jupyterlab.labextensions", "list"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    output = listed.stdout + listed.stderr
    section = output.split(str(env_dir / "share" / "jupyter" / "labextensions"), 1)
    assert len(section) == 2 and _enabled(section[1].split("\n\n", 1)[0]), output


def test_this_environment_has_the_labextension_enabled() -> None:
    """The test command installs FlowAt editable (pip install -e); that enables it too."""
    listed = subprocess.run(
        [sys.executable, "-m", "jupyterlab.labextensions", "list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert _enabled(listed.stdout + listed.stderr), listed.stdout + listed.stderr
