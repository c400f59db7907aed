"""``flowat keys`` and ``flowat access``: API keys, organizations, members, sessions, audit.

The CLI acts as the local user (``FLOWAT_OWNER`` or the OS user), who owns their
personal organization; ``--org`` acts in another organization they are a member of.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from typing import Any

from flowat_kernel.cli.output import print_json, table

__all__ = ["add_access_parsers", "cli_principal"]


def cli_principal(org: str | None = None) -> Any:
    """The local user, in their personal organization or in ``org``.

    Raises:
        Forbidden: not a member of ``org``.

    """
    from flowat_kernel.access import Forbidden, Principal, access, local_principal

    mine = local_principal(via="cli")
    if org is None or org == mine.owner:
        return mine
    role = access().directory.role_of(org, mine.user)
    if role is None:
        raise Forbidden(f"{mine.user!r} is not a member of organization {org!r}")
    return Principal(user=mine.user, owner=org, role=role, via="cli")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--org", help="organization (default: your personal one)")


def _duration(text: str | None) -> timedelta | None:
    from flowat_kernel.triggers.schedules import parse_duration

    return parse_duration(text) if text else None


def cmd_keys(args: argparse.Namespace) -> int:
    """``flowat keys create|list|revoke|rotate``."""
    from flowat_kernel.access import access

    who = cli_principal(args.org)
    keys = access().keys
    if args.action == "create":
        created = keys.create(
            who,
            name=args.name,
            scopes=args.scope or [],
            workflows=args.workflow,
            expires_in=_duration(args.expires),
            user=args.user,
        )
        return _show_created(args, created)
    if args.action == "rotate":
        overlap = _duration(args.overlap) or timedelta(0)
        return _show_created(args, keys.rotate(who, _one(args), overlap))
    if args.action == "revoke":
        info = keys.revoke(who, _one(args))
        print_json(info.as_dict()) if args.json else print(f"revoked {info.prefix} ({info.name})")
        return 0
    infos = keys.list(who.owner)
    if args.json:
        print_json([k.as_dict() for k in infos])
        return 0
    rows = [
        (
            k.prefix,
            k.name,
            k.user,
            ",".join(k.scopes),
            ",".join(k.workflows) if k.workflows is not None else "all",
            k.expires_at.isoformat(timespec="seconds") if k.expires_at else "never",
            k.last_used_at.isoformat(timespec="seconds") if k.last_used_at else "never",
            "active" if k.active else ("revoked" if k.revoked_at else "expired"),
        )
        for k in infos
    ]
    headers = ["prefix", "name", "user", "scopes", "workflows", "expires", "last used", "state"]
    print(table(headers, rows) if rows else "no API keys")
    return 0


def _one(args: argparse.Namespace) -> str:
    from flowat_kernel.errors import FlowAtError

    if not args.key_id:
        raise FlowAtError(f"flowat keys {args.action} needs the key's id (see flowat keys list)")
    return str(args.key_id).removeprefix("flowat_").split("_")[0]


def _show_created(args: argparse.Namespace, created: Any) -> int:
    if args.json:
        print_json({**created.info.as_dict(), "key": created.key})
    else:
        print(created.key)
        sys.stderr.write(
            f"API key {created.info.prefix} ({created.info.name}) for {created.info.user} in "
            f"{created.info.owner}; scopes {', '.join(created.info.scopes)}.\n"
            "This is the only time the key is shown: store it now.\n"
        )
    return 0


def cmd_access(args: argparse.Namespace) -> int:
    """``flowat access orgs|create-org|members|set-role|remove|token|rotate-signing-key|audit``."""
    from flowat_kernel.access import Role, access
    from flowat_kernel.access.audit import query

    services = access()
    who = cli_principal(args.org)
    document: Any
    if args.action == "orgs":
        orgs = services.directory.organizations(who.user)
        document = [{"slug": o.slug, "name": o.name, "personal": o.personal} for o in orgs]
        text = table(["slug", "name", "personal"], [tuple(d.values()) for d in document])
    elif args.action == "create-org":
        org = services.directory.create_organization(_arg(args, 0), args.name, who.user)
        document, text = {"slug": org.slug, "name": org.name}, f"created organization {org.slug}"
    elif args.action == "members":
        who.require("members:read")
        members = services.directory.members(who.owner)
        document = [{"user": m.user, "role": m.role.value} for m in members]
        text = table(["user", "role"], [(m.user, m.role.value) for m in members])
    elif args.action == "set-role":
        who.require("members:write")
        member = services.directory.set_role(
            who.owner, _arg(args, 0), Role.parse(_arg(args, 1)), who.user, who.role
        )
        document = {"user": member.user, "role": member.role.value}
        text = f"{member.user} is now {member.role.value} of {who.owner}"
    elif args.action == "remove":
        who.require("members:write")
        services.directory.remove_member(who.owner, _arg(args, 0), who.user, who.role)
        document, text = {"removed": _arg(args, 0)}, f"removed {_arg(args, 0)} from {who.owner}"
    elif args.action == "token":
        document = services.sessions.issue(who, _duration(args.ttl) or timedelta(minutes=15))
        text = document["token"]
    elif args.action == "rotate-signing-key":
        kid = services.sessions.rotate()
        retired = services.sessions.retire(keep=2) if args.retire_old else []
        document = {"signing_key": kid, "retired": retired}
        text = f"new session signing key {kid}" + (f"; retired {retired}" if retired else "")
    else:
        who.require("audit:read")
        entries = query(services.runtime.store, who.owner, limit=args.limit)
        document = entries
        rows = [(e["at"][:19], e["actor"], e["action"], e["target"]) for e in entries]
        text = table(["at", "actor", "action", "target"], rows) if rows else "no entries"
    print_json(document) if args.json else print(text)
    return 0


def _arg(args: argparse.Namespace, index: int) -> str:
    from flowat_kernel.errors import FlowAtError

    if len(args.values) <= index:
        raise FlowAtError(f"flowat access {args.action}: missing argument; see --help")
    return str(args.values[index])


def add_access_parsers(sub: Any) -> None:
    """Register ``flowat keys`` and ``flowat access``."""
    p = sub.add_parser(
        "keys",
        help="API keys: create (shown once), list, revoke, rotate",
        description="Manage API keys of an organization. A new key is printed once.",
    )
    p.add_argument("action", choices=["create", "list", "revoke", "rotate"])
    p.add_argument("key_id", nargs="?", help="the key's id or prefix (revoke, rotate)")
    _common(p)
    p.add_argument("--name", default="cli", help="a name for the key (create)")
    p.add_argument(
        "--scope", action="append", metavar="SCOPE", help="e.g. runs:write (repeatable; * = all)"
    )
    p.add_argument(
        "--workflow", action="append", metavar="NAME", help="limit the key to this workflow"
    )
    p.add_argument("--expires", metavar="DURATION", help="e.g. 30d, 12h (default: never)")
    p.add_argument("--user", help="the member the key acts as (default: you)")
    p.add_argument(
        "--overlap", default="1h", metavar="DURATION", help="rotate: old key stays valid (1h)"
    )
    p.set_defaults(handler=cmd_keys)

    p = sub.add_parser(
        "access",
        help="organizations, members and roles, session tokens, the audit log",
        description=(
            "orgs | create-org SLUG [--name N] | members | set-role USER ROLE | remove USER | "
            "token [--ttl 15m] | rotate-signing-key [--retire-old] | audit [--limit N]"
        ),
    )
    p.add_argument(
        "action",
        choices=[
            "orgs",
            "create-org",
            "members",
            "set-role",
            "remove",
            "token",
            "rotate-signing-key",
            "audit",
        ],
    )
    p.add_argument("values", nargs="*", help="arguments of the action")
    _common(p)
    p.add_argument("--name", help="create-org: display name")
    p.add_argument("--ttl", help="token: lifetime (default 15m, at most 12h)")
    p.add_argument("--retire-old", action="store_true", help="drop all but the 2 newest keys")
    p.add_argument("--limit", type=int, default=50, help="audit: entries shown (50)")
    p.set_defaults(handler=cmd_access)
