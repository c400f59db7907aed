"""The commands that govern runs: who hears of them, how many run, how long they are kept.

``alerts``, concurrency ``limits``, deleting ``workflows`` and runs (``delete``),
``retention`` policies, host rate limits (``ratelimit``) and ``approvals`` links.
"""

from __future__ import annotations

from flowat_kernel.commands.catalog_shared import _ORG, _R, _RM, _RUN_ID, _WORKFLOW
from flowat_kernel.commands.model import Command, arg

__all__ = ["POLICY_COMMANDS"]

_RL = "flowat_kernel.cli.ratelimit:"
_RLM = "flowat_kernel.notebook.ratelimit_magics:"
_AP = "flowat_kernel.cli.approvals:"
_APM = "flowat_kernel.notebook.approval_magics:"

_ORG_POLICY = arg(
    "--org",
    nargs="?",
    default="",
    metavar="SLUG",
    help="the organization's default policy (of SLUG, else your personal organization)",
)
_ORG_LIMIT = arg(
    "--org",
    nargs="?",
    default="",
    metavar="SLUG",
    help="the organization's default limit (of SLUG, else your personal organization)",
)

POLICY_COMMANDS: tuple[Command, ...] = (
    Command(
        "alerts",
        "alerts when a run fails, succeeds or times out: add, list, remove",
        description="An alert posts to a chat or HTTP webhook, sends an email or starts an "
        "error-handler workflow, once per run; --message is a template of {expression} fields "
        "(see the user guide, Alerts).",
        default_action="list",
        actions=(
            Command(
                "add",
                "add an alert to a workflow (or the organization's default)",
                args=(
                    arg("workflow", nargs="?", help="workflow name"),
                    arg(
                        "--on",
                        required=True,
                        choices=("failure", "success", "timeout", "approval"),
                    ),
                    arg("--webhook", metavar="URL", help="POST the run's details as JSON"),
                    arg("--chat", metavar="URL", help="post a message to a chat webhook"),
                    arg("--email", metavar="ADDR", help="send an email (FLOWAT_ALERT_SMTP_*)"),
                    arg("--workflow", dest="handler", metavar="HANDLER", help="start HANDLER"),
                    arg("--message", metavar="TEMPLATE", help="e.g. 'run {run_id}: {error}'"),
                    arg("--org-default", action="store_true", help="for every workflow"),
                    _ORG,
                ),
                cli="flowat_kernel.cli.alerts:cmd_add",
                magic="flowat_kernel.notebook.alert_magics:alerts_add",
            ),
            Command(
                "list",
                "alerts (of one workflow: its own and the organization's defaults)",
                args=(arg("workflow", nargs="?", help="workflow name"), _ORG),
                cli="flowat_kernel.cli.alerts:cmd_list",
                magic="flowat_kernel.notebook.alert_magics:alerts_list",
            ),
            Command(
                "remove",
                "remove an alert",
                args=(arg("id", metavar="ID", help="the alert's id"), _ORG),
                cli="flowat_kernel.cli.alerts:cmd_remove",
                magic="flowat_kernel.notebook.alert_magics:alerts_remove",
            ),
        ),
    ),
    Command(
        "limits",
        "concurrency limits: how many runs of a workflow may run at once",
        description="When a workflow's slots are all taken a new run waits in line (queue: "
        "status queued, with its place), is recorded skipped with reason limit (skip), or the "
        "oldest running run is cancelled for it (cancel-oldest). Every worker and host shares "
        "the limit through the store. A workflow's limit replaces the organization's default "
        "(--org), which applies to each workflow separately.",
        default_action="show",
        actions=(
            Command(
                "set",
                "limit a workflow's concurrent runs, or with --org the organization's default",
                args=(
                    arg("workflow", nargs="?", help="workflow name"),
                    _ORG_LIMIT,
                    arg(
                        "--max-concurrent-runs",
                        required=True,
                        type=int,
                        metavar="N",
                        help="at most N runs at once (1 or more)",
                    ),
                    arg(
                        "--when-full",
                        default="queue",
                        choices=("queue", "skip", "cancel-oldest"),
                        help="what a new run does when N are running (queue)",
                    ),
                ),
                cli="flowat_kernel.cli.limits:cmd_set",
                magic="flowat_kernel.notebook.limit_magics:limits_set",
            ),
            Command(
                "show",
                "a workflow's limit, the organization's default, and runs running and queued",
                args=(arg("workflow", nargs="?", help="workflow name"), _ORG_LIMIT),
                cli="flowat_kernel.cli.limits:cmd_show",
                magic="flowat_kernel.notebook.limit_magics:limits_show",
            ),
            Command(
                "clear",
                "remove a workflow's limit, or with --org the organization's default",
                args=(arg("workflow", nargs="?", help="workflow name"), _ORG_LIMIT),
                cli="flowat_kernel.cli.limits:cmd_clear",
                magic="flowat_kernel.notebook.limit_magics:limits_clear",
            ),
        ),
    ),
    Command(
        "workflows",
        "workflows: list them, or delete one with all its versions, runs and triggers",
        default_action="list",
        actions=(
            Command(
                "list",
                "each workflow with its latest version",
                args=(_ORG,),
                cli=_R + "cmd_workflows_list",
                magic=_RM + "workflows_list",
            ),
            Command(
                "delete",
                "delete a workflow: versions, runs, schedules, webhooks, alerts, policies",
                args=(
                    _WORKFLOW,
                    arg("--force", action="store_true", help="cancel its active runs first"),
                    _ORG,
                ),
                cli=_R + "cmd_workflows_delete",
                magic=_RM + "workflows_delete",
            ),
        ),
    ),
    Command(
        "delete",
        "delete runs or a workflow, everywhere they left something",
        args=(
            arg("what", choices=("run", "runs", "workflow"), help="what to delete"),
            arg("targets", nargs="+", metavar="ID|WORKFLOW", help="run ids, or the workflow"),
            arg("--force", action="store_true", help="also active runs (cancelled first)"),
        ),
        magic=_RM + "delete",
    ),
    Command(
        "retention",
        "retention policies: how long finished runs are kept (by age, by count)",
        description="A finished run expires when it is older than --days or not among its "
        "workflow's newest --keep finished runs; queued and running runs never do. A "
        "workflow's policy replaces the organization's default (--org). The worker applies "
        "them every FLOWAT_RETENTION_INTERVAL seconds (3600).",
        default_action="show",
        actions=(
            Command(
                "set",
                "set a workflow's policy, or with --org the organization's default",
                args=(
                    arg("workflow", nargs="?", help="workflow name"),
                    _ORG_POLICY,
                    arg("--days", type=int, metavar="N", help="keep runs N days"),
                    arg("--keep", type=int, metavar="N", help="keep the newest N finished runs"),
                ),
                cli=_R + "cmd_retention_set",
                magic=_RM + "retention_set",
            ),
            Command(
                "show",
                "the policies (of one workflow: its own and the default)",
                args=(arg("workflow", nargs="?", help="workflow name"), _ORG),
                cli=_R + "cmd_retention_show",
                magic=_RM + "retention_show",
            ),
            Command(
                "clear",
                "remove a workflow's policy, or with --org the organization's default",
                args=(arg("workflow", nargs="?", help="workflow name"), _ORG_POLICY),
                cli=_R + "cmd_retention_clear",
                magic=_RM + "retention_clear",
            ),
            Command(
                "apply",
                "apply the organization's policies now (Administrator, Owner)",
                args=(_ORG,),
                cli=_R + "cmd_retention_apply",
                magic=_RM + "retention_apply",
            ),
        ),
    ),
    Command(
        "ratelimit",
        "rate limits per connector host: set, list, remove",
        description="Calls of your organization's runs to a host wait (never fail) while a "
        "limit is reached; every worker shares the limit through the store. HOST is a name, "
        "an address or host:port (a bare name covers every port).",
        default_action="list",
        actions=(
            Command(
                "set",
                "limit calls to a host (Administrators and Owners)",
                args=(
                    arg("host", metavar="HOST", help="e.g. api.example.com or 10.0.0.5:8080"),
                    arg("--per-second", type=int, metavar="N", help="at most N calls a second"),
                    arg("--concurrent", type=int, metavar="N", help="at most N calls at once"),
                    arg("--connector", metavar="C", help="only connector C's calls (default: all)"),
                    _ORG,
                ),
                cli=_RL + "cmd_set",
                magic=_RLM + "magic_set",
            ),
            Command(
                "list",
                "the organization's host rate limits",
                args=(_ORG,),
                cli=_RL + "cmd_list",
                magic=_RLM + "magic_list",
            ),
            Command(
                "remove",
                "remove a host's rate limit",
                args=(
                    arg("host", metavar="HOST", help="the limit's host"),
                    arg("--connector", metavar="C", help="the limit's connector (default: all)"),
                    _ORG,
                ),
                cli=_RL + "cmd_remove",
                magic=_RLM + "magic_remove",
            ),
        ),
    ),
    Command(
        "approvals",
        "approval links for --wait-for steps: link, list",
        description="A signed, expiring, single-use link: the reviewer opens it, sees the "
        "workflow, run, step and (masked) parameters, and approves or rejects; the run gets "
        "the step's signal with who decided. The link is the credential: hand it only to the "
        "reviewer.",
        default_action="list",
        actions=(
            Command(
                "link",
                "make an approve/reject link for a waiting step of a run",
                args=(
                    _RUN_ID,
                    arg("step", metavar="STEP", help="the --wait-for SIGNAL step"),
                    arg(
                        "--reviewer", metavar="NAME", help="the name the decision is recorded under"
                    ),
                    arg("--expires", default="24h", metavar="D", help="how long it works (24h)"),
                    arg("--base-url", metavar="URL", help="where flowat serve or Jupyter answers"),
                    arg("--chat", metavar="URL", help="send it to a chat webhook instead"),
                    arg("--webhook", metavar="URL", help="POST it (JSON) to a webhook instead"),
                    arg("--email", metavar="ADDR", help="email it (FLOWAT_ALERT_SMTP_*) instead"),
                    _ORG,
                ),
                cli=_AP + "cmd_link",
                magic=_APM + "magic_link",
            ),
            Command(
                "list",
                "the approval links made for a run, and how each was used",
                args=(_RUN_ID, _ORG),
                cli=_AP + "cmd_list",
                magic=_APM + "magic_list",
            ),
        ),
    ),
)
