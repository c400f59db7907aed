"""What a workflow needs where it runs: connectors, Python packages and secret names.

Read from the compiled spec, as the compiler leaves it: action steps name their
connector; code steps call ``flowat.action("connector.action", ...)`` and
``flowat.secret(NAME)`` and import packages (in their body or their prelude). A secret
or action named by a string literal, or by a workflow input whose default is a string,
is found; one computed at run time is not (the bundle's author can list it with
``--secret`` on the step line, which lands in the spec too).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import sys
from collections.abc import Iterable
from typing import Any

from flowat_kernel.bundles.format import BundleError, PackageNeed, Requirements
from flowat_kernel.spec import StepSpec, WorkflowSpec

__all__ = ["derive_requirements", "merged", "missing_requirements", "refuse_missing"]

#: Imports that come with FlowAt itself, never a separate requirement.
_OWN = frozenset({"flowat", "flowat_kernel", "flowat_connectors", "flowat_extension", "__future__"})


def _called(node: ast.Call, name: str) -> bool:
    func = node.func
    return (isinstance(func, ast.Attribute) and func.attr == name) or (
        isinstance(func, ast.Name) and func.id == name
    )


def _text(node: ast.expr, defaults: dict[str, Any]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and isinstance(defaults.get(node.id), str):
        return str(defaults[node.id])
    return None


def _trees(step: StepSpec) -> Iterable[ast.AST]:
    for source in (*step.prelude, step.source):
        try:
            yield ast.parse(source)
        except SyntaxError:  # logic steps hold expressions; IPython syntax was compiled
            try:
                yield ast.parse(source, mode="eval")
            except SyntaxError:
                continue


def _walk_step(step: StepSpec, defaults: dict[str, Any], found: dict[str, set[str]]) -> None:
    if step.action:
        found["connectors"].add(step.action.partition(".")[0])
    found["secrets"].update(step.secrets)
    for tree in _trees(step):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found["packages"].update(a.name.partition(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found["packages"].add(node.module.partition(".")[0])
            elif isinstance(node, ast.Call) and node.args:
                value = _text(node.args[0], defaults)
                if value is None:
                    continue
                if _called(node, "secret"):
                    found["secrets"].add(value)
                elif _called(node, "action") and "." in value:
                    found["connectors"].add(value.partition(".")[0])
            elif isinstance(node, ast.Dict):  # {"$secret": NAME}, as action inputs take it
                for key, item in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "$secret":
                        value = _text(item, defaults)
                        if value is not None:
                            found["secrets"].add(value)


@functools.cache
def _distributions() -> dict[str, list[str]]:
    from importlib.metadata import packages_distributions

    return dict(packages_distributions())


def _third_party(module: str) -> bool:
    return module not in sys.stdlib_module_names and module not in _OWN


def derive_requirements(spec: WorkflowSpec) -> Requirements:
    """The connectors, packages and secret names ``spec``'s steps use, sorted."""
    defaults = {i.name: i.default for i in spec.inputs}
    found: dict[str, set[str]] = {"connectors": set(), "packages": set(), "secrets": set()}
    for step in spec.steps:
        _walk_step(step, defaults, found)
    packages = []
    for module in sorted(m for m in found["packages"] if _third_party(m)):
        names = _distributions().get(module) or []
        packages.append(PackageNeed(module=module, distribution=names[0] if names else None))
    return Requirements(
        connectors=tuple(sorted(found["connectors"])),
        packages=tuple(packages),
        secrets=tuple(sorted(found["secrets"])),
    )


def merged(declared: Requirements, derived: Requirements) -> Requirements:
    """What a bundle declares together with what its spec shows (the spec cannot hide one)."""
    packages = {p.module: p for p in derived.packages}
    packages.update({p.module: p for p in declared.packages})
    return Requirements(
        connectors=tuple(sorted({*declared.connectors, *derived.connectors})),
        packages=tuple(packages[m] for m in sorted(packages)),
        secrets=tuple(sorted({*declared.secrets, *derived.secrets})),
    )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_requirements(
    needs: Requirements, secret_names: Iterable[str] | None
) -> dict[str, list[str]]:
    """What ``needs`` asks for that is not here: connectors, packages, secrets.

    ``secret_names`` are the secrets the organization has (``None``: do not check).
    """
    from flowat_kernel.sdk.registry import connectors

    have = connectors()
    missing: dict[str, list[str]] = {
        "connectors": [c for c in needs.connectors if c not in have],
        "packages": [
            p.distribution or p.module for p in needs.packages if not _installed(p.module)
        ],
        "secrets": [],
    }
    if secret_names is not None:
        known = set(secret_names)
        missing["secrets"] = [s for s in needs.secrets if s not in known]
    return missing


def refuse_missing(workflow: str, missing: dict[str, list[str]]) -> None:
    """Raise one error that lists everything missing (nothing when nothing is).

    Raises:
        BundleError: something is missing; the message says how to provide each.

    """
    lines = []
    if missing.get("connectors"):
        lines.append(
            "connectors not installed: "
            + ", ".join(missing["connectors"])
            + " (install the package that provides each; `flowat connectors` lists those here)"
        )
    if missing.get("packages"):
        lines.append(
            "Python packages not installed: "
            + ", ".join(missing["packages"])
            + f" (pip install {' '.join(missing['packages'])})"
        )
    if missing.get("secrets"):
        lines.append(
            "secrets not set: "
            + ", ".join(missing["secrets"])
            + " (flowat secrets set NAME, the value on standard input; in a notebook "
            "%flowat secret set NAME)"
        )
    if lines:
        raise BundleError(
            f"cannot import {workflow!r}; it needs what is not here:\n  "
            + "\n  ".join(lines)
            + "\nnothing was imported"
        )
