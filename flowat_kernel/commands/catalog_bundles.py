"""The bundle commands: ``export`` and ``import`` of .flowat files, the ``templates`` gallery."""

from __future__ import annotations

from flowat_kernel.commands.catalog_shared import _WORKFLOW
from flowat_kernel.commands.model import Command, arg

__all__ = ["BUNDLE_COMMANDS"]

_B = "flowat_kernel.cli.bundles:"
_BM = "flowat_kernel.notebook.bundle_magics:"

BUNDLE_COMMANDS: tuple[Command, ...] = (
    Command(
        "export",
        "write a workflow version as a .flowat bundle file (notebook, spec, needs; no secrets)",
        args=(
            _WORKFLOW,
            arg("--version", type=int, metavar="N", help="version number (default: latest)"),
            arg("-o", "--output", metavar="FILE", help="where to write (default: WORKFLOW.flowat)"),
            arg("--description", metavar="TEXT", help="what the workflow does, for the gallery"),
            arg("--tag", action="append", metavar="TAG", help="a tag (repeatable)"),
            arg("--force", action="store_true", help="overwrite FILE if it exists"),
        ),
        cli=_B + "cmd_export",
        magic=_BM + "export",
    ),
    Command(
        "import",
        "check a .flowat bundle and what it needs, publish it and write its notebook",
        args=(
            arg("file", metavar="FILE", help="the .flowat bundle"),
            arg("--name", help="publish under this workflow name (default: the bundle's)"),
            arg("--dir", metavar="D", help="folder for the notebook (default: the current one)"),
            arg("--force", action="store_true", help="overwrite the notebook if it exists"),
        ),
        cli=_B + "cmd_import",
        magic=_BM + "import_",
    ),
    Command(
        "templates",
        "the template gallery: list, show, use (FLOWAT_TEMPLATE_PATHS adds folders)",
        actions=(
            Command(
                "list",
                "templates by name, with tags and the secrets they expect",
                args=(arg("--tag", metavar="T", help="only templates with this tag"),),
                cli=_B + "cmd_templates_list",
                magic=_BM + "templates_list",
            ),
            Command(
                "show",
                "a template's description, parameters, secrets, connectors and packages",
                args=(arg("template", metavar="NAME", help="the template's name"),),
                cli=_B + "cmd_templates_show",
                magic=_BM + "templates_show",
            ),
            Command(
                "use",
                "publish a template as a workflow of yours and write its notebook",
                args=(
                    arg("template", metavar="NAME", help="the template's name"),
                    arg("--name", required=True, help="your workflow's name"),
                    arg("--dir", metavar="D", help="folder for the notebook (default: here)"),
                    arg("--force", action="store_true", help="overwrite the notebook"),
                ),
                cli=_B + "cmd_templates_use",
                magic=_BM + "templates_use",
            ),
        ),
    ),
)
