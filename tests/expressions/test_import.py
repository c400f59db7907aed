"""The package can be imported inside Temporal's workflow sandbox (passed through).

Importing it performs no I/O beyond loading its own modules, and it depends only on
the standard library, simpleeval and ``flowat_kernel.errors`` (for ``FlowAtError``).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import flowat_kernel.expressions as package

PACKAGE_DIR = Path(package.__file__).parent
ALLOWED_FIRST_PARTY = {"flowat_kernel.errors", "flowat_kernel.expressions"}


def _imported_names() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for module in sorted(PACKAGE_DIR.glob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            found.setdefault(module.name, []).extend(names)
    return found


def _is_stdlib(name: str) -> bool:
    return name.split(".")[0] in sys.stdlib_module_names


def test_imports_only_stdlib_simpleeval_and_flowat_errors() -> None:
    for module, names in _imported_names().items():
        for name in names:
            allowed = (
                _is_stdlib(name)
                or name == "simpleeval"
                or any(name == p or name.startswith(p + ".") for p in ALLOWED_FIRST_PARTY)
            )
            assert allowed, f"{module} imports {name}"


_PROBE = r"""
import sys
import importlib
import flowat_kernel.errors, simpleeval  # dependencies, loaded before watching
for name in sys.argv[2].split(","):
    importlib.import_module(name)
events = []
package_dir = sys.argv[1]

def hook(event, args):
    if event in ("open", "os.listdir", "os.scandir"):
        path = str(args[0]) if args else ""
        if path.startswith(package_dir):
            return  # the import system loading the package's own modules
    if event.startswith(("open", "os.", "socket.", "subprocess.", "shutil.", "urllib.")):
        events.append((event, repr(args)[:120]))

sys.addaudithook(hook)
import flowat_kernel.expressions as e
e.evaluate("len(x)", {"x": [1]})
print(repr(events))
"""


def test_import_and_evaluation_do_no_io() -> None:
    stdlib = sorted({n for names in _imported_names().values() for n in names if _is_stdlib(n)})
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(PACKAGE_DIR), ",".join(stdlib)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    events = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert events == [], events
