"""A real JupyterLab on loopback and Debian's Chromium driven by Playwright.

Chromium must be at ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run``
installs it): when it is missing these tests fail, they never skip. Nothing downloads
a browser.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flowat_kernel.testing import free_port

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: where it serves, its token and its root folder."""

    url: str
    token: str
    root: Path
    log: Path

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}&reset"


@pytest.fixture(scope="module")
def jupyterlab(flowat_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab 4 on 127.0.0.1 whose kernels use the session's FLOWAT_HOME."""
    root = tmp_path_factory.mktemp("lab-root")
    port, token = free_port(), uuid.uuid4().hex
    log = ARTIFACTS / "jupyterlab.log"
    ARTIFACTS.mkdir(exist_ok=True)
    env = dict(os.environ, FLOWAT_HOME=str(flowat_home))
    env["FLOWAT_TASK_QUEUE"] = f"lab-{uuid.uuid4().hex[:10]}"
    # settings changed by a test stay in this JupyterLab, not the machine user's
    env["JUPYTERLAB_SETTINGS_DIR"] = str(tmp_path_factory.mktemp("lab-settings"))
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--port={port}",
        f"--ServerApp.token={token}",
        "--ServerApp.ip=127.0.0.1",
        "--allow-root",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
    ]
    print(f"\nJupyterLab for the browser tests: http://127.0.0.1:{port} (log {log})")
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start; see {log}:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
        yield Lab(url, token, root, log)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium (fails, never skips, when it is not installed).

    Module-scoped: Playwright's sync API keeps an asyncio loop running on this thread
    while it is open, which would break later tests that call ``asyncio.run``.
    """
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); "
            "the browser tests never download a browser"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()
