"""``flowat export``, ``flowat import`` and ``flowat templates list|show|use``.

Each handler calls the bundles use cases with the default workspace (so the role
checks of reading and publishing workflows apply) and prints the outcome: a few lines
for a person, one JSON document with ``--json``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from flowat_kernel.cli.output import print_json, table

__all__ = [
    "cmd_export",
    "cmd_import",
    "cmd_templates_list",
    "cmd_templates_show",
    "cmd_templates_use",
    "describe_template",
]


def cmd_export(args: argparse.Namespace) -> int:
    """``flowat export W [--version N] [-o W.flowat]``: write a version's bundle file."""
    from flowat_kernel.api import default_workspace
    from flowat_kernel.bundles import export_bundle, write_bundle

    bundle = export_bundle(
        default_workspace(),
        args.workflow,
        version=args.version,
        description=args.description or "",
        tags=args.tag or (),
    )
    path = write_bundle(bundle, args.output or f"{args.workflow}.flowat", force=args.force)
    if args.json:
        print_json(
            {
                "path": str(path),
                "workflow": bundle.name,
                "version": bundle.source.get("version"),
                "spec_hash": bundle.spec_hash,
                "requires": bundle.requires.model_dump(mode="json"),
            }
        )
    else:
        sys.stderr.write(
            f"{bundle.name} v{bundle.source.get('version')} exported to {path} "
            f"({bundle.spec_hash[:19]})\n"
        )
        print(path)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """``flowat import FILE [--name X] [--dir D] [--force]``: check, publish, write notebook."""
    from flowat_kernel.api import default_workspace
    from flowat_kernel.bundles import import_bundle, read_bundle

    imported = import_bundle(
        default_workspace(),
        read_bundle(args.file),
        name=args.name,
        directory=args.dir,
        force=args.force,
    )
    if args.json:
        print_json(imported.document())
    else:
        print(imported.summary())
    return 0


def cmd_templates_list(args: argparse.Namespace) -> int:
    """``flowat templates list [--tag T]``: the gallery, by name."""
    from flowat_kernel.bundles import gallery

    found = gallery()
    rows = [t.row() for t in found.list(args.tag)]
    if args.json:
        print_json({"items": rows, "problems": found.problems})
        return 0
    print(
        table(
            ["name", "tags", "secrets", "description"],
            [
                [r["name"], ", ".join(r["tags"]), ", ".join(r["secrets"]), r["description"]]
                for r in rows
            ],
        )
    )
    for path, problem in found.problems.items():
        sys.stderr.write(f"skipped {path}: {problem}\n")
    return 0


def describe_template(details: dict[str, Any]) -> str:
    """``flowat templates show`` for a person: description, parameters, needs, steps."""
    needs = details["requires"]
    lines = [
        f"{details['name']}  ({details['origin']}: {details['path']})",
        "",
        details["description"] or "(no description)",
        "",
        f"tags: {', '.join(details['tags']) or '-'}",
        f"steps: {' -> '.join(details['steps'])}",
        "",
        "parameters:",
    ]
    if details["parameters"]:
        rows = [[p["name"], p["type"], repr(p["default"])] for p in details["parameters"]]
        lines += ["  " + line for line in table(["name", "type", "default"], rows).splitlines()]
    else:
        lines.append("  (none)")
    packages = [p["distribution"] or p["module"] for p in needs["packages"]]
    lines += [
        "",
        f"secrets it expects: {', '.join(needs['secrets']) or '-'}",
        f"connectors: {', '.join(needs['connectors']) or '-'}",
        f"Python packages: {', '.join(packages) or '-'}",
        "",
        f"use it: flowat templates use {details['name']} --name MY_WORKFLOW [--dir FOLDER]",
    ]
    return "\n".join(lines)


def cmd_templates_show(args: argparse.Namespace) -> int:
    """``flowat templates show NAME``: one template's description, parameters and needs."""
    from flowat_kernel.bundles import gallery

    details = gallery().get(args.template).details()
    if args.json:
        print_json(details)
    else:
        print(describe_template(details))
    return 0


def cmd_templates_use(args: argparse.Namespace) -> int:
    """``flowat templates use NAME --name X [--dir D]``: publish it, write its notebook."""
    from flowat_kernel.api import default_workspace
    from flowat_kernel.bundles import use_template

    imported = use_template(
        default_workspace(), args.template, name=args.name, directory=args.dir, force=args.force
    )
    if args.json:
        print_json(imported.document())
    else:
        print(imported.summary())
    return 0
