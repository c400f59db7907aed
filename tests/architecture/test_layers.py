"""The import graph of ``flowat_kernel`` has no circles and no import from a lower layer up.

The layers, lowest first, are documented in docs/architecture.md; this test is their
definition. Imports under ``if TYPE_CHECKING:`` count for layers (a type names the layer
it belongs to) but not for circles (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "flowat_kernel"

#: Lowest first. A module may import from its own layer and the layers before it.
LAYERS: list[tuple[str, set[str]]] = [
    (
        "foundation",
        {
            "errors",
            "diagnostics",
            "ids",
            "config",
            "config_values",
            "config_home",
            "loop",
            "lazy",
            "fslock",
            "streams",
        },
    ),
    ("values and models", {"params", "step_context", "spec"}),
    ("models and storage", {"compiler", "expressions", "store"}),
    ("credentials and identity", {"vault", "access"}),
    ("capabilities", {"sdk", "analytics", "ai"}),
    ("engine", {"engine", "sandbox", "run_result", "reports"}),
    ("triggers", {"triggers"}),
    ("the one door", {"workspace", "bundles"}),
    ("composition root", {"runtime"}),
    ("Python API", {"api", "dlq", "debugging"}),
    ("faces", {"cli", "notebook", "server", "papermill", "widgets", "commands", "testing"}),
]
RANK = {name: rank for rank, (_, names) in enumerate(LAYERS) for name in names}
#: The package itself (``import flowat_kernel``): the public facade, above every layer.
FACADE = len(LAYERS)


def _layer_name(rank: int) -> str:
    return LAYERS[rank][0] if rank < FACADE else "the package facade"


def _modules() -> dict[str, Path]:
    found = {}
    for path in (ROOT / PACKAGE).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path) -> list[tuple[str, bool]]:
    """Every FlowAt module ``module`` imports, and whether only for type checking."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[str, bool]] = []

    def visit(node: ast.AST, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for statement in child.body:
                    visit_statement(statement, True)
                for statement in child.orelse:
                    visit_statement(statement, typing_only)
                continue
            visit_statement(child, typing_only)

    def visit_statement(node: ast.AST, typing_only: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.append((alias.name, typing_only))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                full = f"{source}.{alias.name}"
                out.append((full if full in MODULES else source, typing_only))
        visit(node, typing_only)

    visit(ast.parse(path.read_text()), False)
    resolved = []
    for name, typing_only in out:
        target = _owner(name) if name.startswith(PACKAGE) else None
        if target is not None and target != module:
            resolved.append((target, typing_only))
    return resolved


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) == 1:
        return FACADE
    return RANK.get(parts[1])


def test_every_module_belongs_to_a_layer() -> None:
    unplaced = sorted(m for m in MODULES if _layer(m) is None)
    assert not unplaced, f"place these in a layer of tests/architecture/test_layers.py: {unplaced}"


def test_no_import_from_a_lower_layer_up() -> None:
    upward = []
    for module, targets in GRAPH.items():
        own = _layer(module)
        for target, _ in targets:
            theirs = _layer(target)
            if own is not None and theirs is not None and theirs > own:
                upward.append(
                    f"{module} ({_layer_name(own)}) imports {target} ({_layer_name(theirs)})"
                )
    assert not upward, "imports from a lower layer up:\n" + "\n".join(sorted(upward))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_import_graph_has_no_circles() -> None:
    runtime_graph = {m: {t for t, typing_only in ts if not typing_only} for m, ts in GRAPH.items()}
    circles = _cycles(runtime_graph)
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


def test_the_circle_finder_finds_a_circle() -> None:
    # The check above must be able to fail.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    "folder", ["vault", "sdk", "analytics", "engine", "compiler", "store", "expressions"]
)
def test_only_the_top_layers_look_up_the_runtime(folder: str) -> None:
    callers = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / PACKAGE / folder).rglob("*.py"))
        if "get_runtime" in path.read_text()
    ]
    assert not callers, f"these receive their services instead of calling get_runtime(): {callers}"


def test_built_in_connectors_do_not_look_up_the_runtime() -> None:
    callers = [
        p.name for p in sorted((ROOT / "connectors").glob("*.py")) if "get_runtime" in p.read_text()
    ]
    assert not callers, callers


def _table_module(target: str) -> bool:
    """``store.tables`` and the modules it gathers (``store.run_tables``, ``table_base``...)."""
    prefix = f"{PACKAGE}.store."
    name = target.removeprefix(prefix)
    return target.startswith(prefix) and (
        name in ("tables", "table_base") or name.endswith("_tables")
    )


def test_the_store_owns_its_sql() -> None:
    outside = [
        module
        for module, targets in GRAPH.items()
        if not module.startswith(f"{PACKAGE}.store") and any(_table_module(t) for t, _ in targets)
    ]
    assert _table_module(f"{PACKAGE}.store.run_tables")  # the rule sees the split modules
    assert not _table_module(f"{PACKAGE}.store.run_records")
    assert not outside, f"query through store methods, not store.tables: {sorted(outside)}"


def test_a_planted_upward_import_is_caught(tmp_path: Path) -> None:
    # The layer rule must be able to fail: an engine module importing the API.
    planted = tmp_path / "planted.py"
    planted.write_text("from flowat_kernel.api import run\n")
    targets = _imports("flowat_kernel.engine.planted", planted)
    assert ("flowat_kernel.api", False) in targets
    assert _layer("flowat_kernel.api") > _layer("flowat_kernel.engine.planted")  # type: ignore[operator]
