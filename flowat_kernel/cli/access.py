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
from flowat_kernel.commands import CommandError, duration

__all__ = ["cli_principal", "cmd_access", "cmd_keys"]


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
            expires_in=duration(args.expires),
            user=args.user,
        )
        return _show_created(args, created)
    if args.action == "rotate":
        overlap = duration(args.overlap) or timedelta(0)
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
    if not args.key_id:
        raise CommandError(f"flowat keys {args.action} needs the key's id (see flowat keys list)")
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
    """``flowat access orgs|create-org|members|set-role|remove|egress|token|...|audit``."""
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
    elif args.action == "egress":
        document, text = _egress(who, args.values[0] if args.values else None)
    elif args.action == "token":
        document = services.sessions.issue(who, duration(args.ttl) or timedelta(minutes=15))
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


def _egress(who: Any, policy: str | None) -> tuple[dict[str, Any], str]:
    """Show the organization's egress policy, or set it (Owner only)."""
    from flowat_kernel.config import settings
    from flowat_kernel.runtime import get_runtime
    from flowat_kernel.sdk.egress import combined
    from flowat_kernel.workspace import Workspace

    workspace = Workspace(get_runtime(), who)
    org = workspace.organization() if policy is None else workspace.set_egress(policy)
    installation = settings().egress
    effective = combined(installation, org.egress)
    document = {
        "organization": org.slug,
        "egress": org.egress or "installation",
        "installation": installation,
        "effective": effective,
    }
    text = (
        f"{org.slug}: egress {document['egress']} (installation FLOWAT_EGRESS={installation}; "
        f"in effect: {effective})"
    )
    return document, text


def _arg(args: argparse.Namespace, index: int) -> str:
    if len(args.values) <= index:
        raise CommandError(f"flowat access {args.action}: missing argument; see --help")
    return str(args.values[index])
