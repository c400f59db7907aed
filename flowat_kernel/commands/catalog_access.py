"""The access commands: API ``keys``; organizations, members, roles and tokens (``access``)."""

from __future__ import annotations

from flowat_kernel.commands.catalog_shared import _ORG
from flowat_kernel.commands.model import Command, arg

__all__ = ["ACCESS_COMMANDS"]

ACCESS_COMMANDS: tuple[Command, ...] = (
    Command(
        "keys",
        "API keys: create (shown once), list, revoke, rotate",
        description="Manage API keys of an organization. A new key is printed once.",
        args=(
            arg("action", choices=("create", "list", "revoke", "rotate"), help="what to do"),
            arg(
                "key_id",
                nargs="?",
                metavar="KEY_ID",
                help="the key's id or prefix (revoke, rotate)",
            ),
            _ORG,
            arg("--name", default="cli", help="a name for the key (create)"),
            arg(
                "--scope",
                action="append",
                metavar="SCOPE",
                help="e.g. runs:write (repeatable; * = all)",
            ),
            arg(
                "--workflow", action="append", metavar="NAME", help="limit the key to this workflow"
            ),
            arg("--expires", metavar="DURATION", help="e.g. 30d, 12h (default: never)"),
            arg("--user", help="the member the key acts as (default: you)"),
            arg(
                "--overlap",
                default="1h",
                metavar="DURATION",
                help="rotate: old key stays valid (1h)",
            ),
        ),
        cli="flowat_kernel.cli.access:cmd_keys",
    ),
    Command(
        "access",
        "organizations, members and roles, session tokens, the audit log",
        description="orgs | create-org SLUG [--name N] | members | set-role USER ROLE | "
        "remove USER | egress [auto|open|public|installation] | token [--ttl 15m] | "
        "rotate-signing-key [--retire-old] | audit [--limit N]",
        args=(
            arg(
                "action",
                choices=(
                    "orgs",
                    "create-org",
                    "members",
                    "set-role",
                    "remove",
                    "egress",
                    "token",
                    "rotate-signing-key",
                    "audit",
                ),
                help="what to do",
            ),
            arg("values", nargs="*", metavar="VALUE", help="arguments of the action"),
            _ORG,
            arg("--name", help="create-org: display name"),
            arg("--ttl", help="token: lifetime (default 15m, at most 12h)"),
            arg("--retire-old", action="store_true", help="drop all but the 2 newest keys"),
            arg("--limit", type=int, default=50, metavar="N", help="audit: entries shown (50)"),
        ),
        cli="flowat_kernel.cli.access:cmd_access",
    ),
)
