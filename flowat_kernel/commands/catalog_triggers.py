"""The trigger commands: cron ``schedules`` and ``webhooks``."""

from __future__ import annotations

from flowat_kernel.commands.catalog_shared import _ORG
from flowat_kernel.commands.model import Command, arg

__all__ = ["OVERLAP_POLICIES", "TRIGGER_COMMANDS"]

_TR = "flowat_kernel.notebook.trigger_magics:"
#: A schedule's overlap policies (``flowat_kernel.triggers.schedules.OVERLAP_POLICIES``).
OVERLAP_POLICIES = (
    "skip",
    "buffer_one",
    "buffer_all",
    "cancel_other",
    "terminate_other",
    "allow_all",
)

TRIGGER_COMMANDS: tuple[Command, ...] = (
    Command(
        "schedules",
        "cron schedules on Temporal: add, list, pause, resume, trigger, delete",
        magic_name="schedule",
        description='add WORKFLOW "CRON" [-p k=v] | list | pause ID | resume ID | trigger ID | '
        "delete ID. In a notebook the action add may be left out, and %flowat schedule alone "
        "lists; a schedule added or resumed there also fires while the kernel runs.",
        implied_action="add",
        default_action="list",
        args=(
            arg(
                "action",
                choices=("add", "list", "pause", "resume", "trigger", "delete"),
                help="what to do",
            ),
            arg("target", nargs="?", metavar="WORKFLOW|ID", help="workflow (add) or schedule id"),
            arg("cron", nargs="?", metavar="CRON", help='add: cron expression, e.g. "0 * * * *"'),
            _ORG,
            arg("-p", "--param", action="append", metavar="KEY=VALUE", help="a parameter"),
            arg("--every", help="add: an interval instead of cron, e.g. 30s, 15m"),
            arg(
                "--version", type=int, metavar="N", help="add: pin a version (default: the latest)"
            ),
            arg("--timezone", default="UTC", help="add: IANA time zone (UTC)"),
            arg(
                "--overlap",
                default="skip",
                choices=OVERLAP_POLICIES,
                metavar="POLICY",
                help="add: when a firing finds the last run still going: skip (default), "
                "buffer_one, buffer_all, cancel_other, terminate_other or allow_all",
            ),
            arg("--catchup", default="1m", help="add: catch-up window after downtime (1m)"),
            arg("--paused", action="store_true", help="add: create it paused"),
        ),
        cli="flowat_kernel.cli.schedules:cmd_schedules",
        magic=_TR + "schedule",
    ),
    Command(
        "webhooks",
        "webhook trigger URLs: add (shown once), list, delete",
        magic_name="webhook",
        description="add WORKFLOW [--unsigned] [--version N] [--batch N [--batch-window 20ms]] "
        "| list | delete ID (create is add). In a notebook the action add may be left out, "
        "and %flowat webhook alone lists.",
        implied_action="add",
        default_action="list",
        args=(
            arg("action", choices=("add", "create", "list", "delete"), help="what to do"),
            arg(
                "target",
                nargs="?",
                metavar="WORKFLOW|ID",
                help="workflow (add) or webhook id (delete)",
            ),
            _ORG,
            arg("--version", type=int, metavar="N", help="pin a version (default: the latest)"),
            arg("--unsigned", action="store_true", help="no HMAC signature required"),
            arg(
                "--batch",
                type=int,
                metavar="N",
                help="add: group up to N events arriving within --batch-window into one run",
            ),
            arg("--batch-window", metavar="TIME", help="add: how long a batch gathers (20ms)"),
        ),
        cli="flowat_kernel.cli.schedules:cmd_webhooks",
        magic=_TR + "webhook",
    ),
)
