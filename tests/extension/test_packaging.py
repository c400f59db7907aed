"""The extension is installed and enabled with the package: a plain wheel carries the
Jupyter config file, and ``jupyter server extension list`` shows it enabled."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = "etc/jupyter/jupyter_server_config.d/flowat.json"


def test_wheel_install_enables_the_server_extension(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    wheel = next(tmp_path.glob("flowat-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert f"flowat-0.1.0.data/data/{CONFIG}" in names
    assert "flowat_extension/__init__.py" in names
    assert not any(name.startswith(("extension/", "connectors/")) for name in names)

    # A fresh environment whose sys.prefix receives the wheel (data files included); the
    # dependencies come from this interpreter's site-packages.
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    deps = sysconfig.get_paths()["purelib"]
    (site / "zz_deps.pth").write_text(f"import site; site.addsitedir({deps!r})\n")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    assert (env_dir / CONFIG).is_file()
    listed = subprocess.run(
        [str(python), "-m", "jupyter_server", "extension", "list"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    output = listed.stdout + listed.stderr
    section = output.split(f"Config dir: {env_dir / 'etc' / 'jupyter'}", 1)[1]
    enabled = ("flowat_extension \x1b[32menabled", "flowat_extension enabled")
    assert any(text in section for text in enabled), output
    valid = ("flowat_extension  \x1b[32mOK", "flowat_extension  OK")
    assert any(text in section for text in valid), output
    located = subprocess.run(
        [str(python), "-c", "import flowat_extension; print(flowat_extension.__file__)"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    assert located.stdout.startswith(str(site)), located.stdout
