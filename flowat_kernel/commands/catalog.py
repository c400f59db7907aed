"""Every FlowAt command, declared once: the ``flowat`` CLI and the ``%flowat`` magic.

Handlers are ``"module:function"`` strings, imported only when the command runs. A
command, argument or action that one face lacks is marked with ``faces`` (or has no
handler for the other face). The order here is the order of ``flowat --help`` and of
the ``%flowat`` usage.
"""

from __future__ import annotations

from flowat_kernel.commands.model import CLI, MAGIC, Command, arg
from flowat_kernel.commands.values import version_choice

__all__ = ["COMMANDS", "DEFAULT_API_PORT", "ON_FAILURE_CHOICES", "OVERLAP_POLICIES"]

_CLI = frozenset({CLI})
_MAGIC = frozenset({MAGIC})
_C = "flowat_kernel.cli.commands:"
_M = "flowat_kernel.notebook.magics:"
_ED = "flowat_kernel.notebook.editor_magics:"
_TR = "flowat_kernel.notebook.trigger_magics:"
_B = "flowat_kernel.cli.bundles:"
_BM = "flowat_kernel.notebook.bundle_magics:"
_RL = "flowat_kernel.cli.ratelimit:"
_RLM = "flowat_kernel.notebook.ratelimit_magics:"
_AP = "flowat_kernel.cli.approvals:"
_APM = "flowat_kernel.notebook.approval_magics:"
_R = "flowat_kernel.cli.retention:"
_RM = "flowat_kernel.notebook.retention_magics:"

#: The REST API's default port (``flowat_kernel.server.serve.DEFAULT_PORT``; a test
#: keeps them equal, so that ``flowat --help`` need not import the server).
DEFAULT_API_PORT = 8765
#: What a run does after a failed step (``flowat_kernel.spec.model.ON_FAILURE_CHOICES``).
ON_FAILURE_CHOICES = ("stop", "continue")
#: A schedule's overlap policies (``flowat_kernel.triggers.schedules.OVERLAP_POLICIES``).
OVERLAP_POLICIES = (
    "skip",
    "buffer_one",
    "buffer_all",
    "cancel_other",
    "terminate_other",
    "allow_all",
)

_PARAM = arg("-p", "--param", action="append", metavar="KEY=VALUE", help="a parameter (repeatable)")
_NO_WAIT = arg("--no-wait", action="store_true", help="start the run and return", faces=_CLI)
_WORKER = arg(
    "--worker",
    choices=("auto", "here", "shared", "always", "never"),
    default="auto",
    help="where the run executes: here (this process, its folder and packages; the "
    "default, or FLOWAT_RUN_ON), shared (the flowat worker processes; one runs here if "
    "none is alive), never (shared, never starting one here); always = here",
    faces=_CLI,
)
_ORG = arg("--org", help="organization (default: your personal one)", faces=_CLI)
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
_RUN_ID = arg("run_id", metavar="RUN_ID", help="the run's id")
_WORKFLOW = arg("workflow", help="workflow name")

COMMANDS: tuple[Command, ...] = (
    Command(
        "step",
        "run the cell and register it as a step of the workflow being built",
        cell=True,
        magic=_M + "step_cell",
        usage="%%flowat step NAME [--after A,B] [--retries N] [--timeout 30s] [--local]\n"
        "    sandbox: --untrusted [--allow-network] [--secret NAME ...]\n"
        "    logic:   --if | --switch | --set | --filter LIST | --wait 10s | --wait-for SIGNAL\n"
        "    options: --when EXPR [--merge] --foreach LIST [--concurrency N] --in N=EXPR "
        "--out N=EXPR",
        description="The step line's options are described in the user guide (Steps, Logic "
        "steps); a line that does not parse says which option is wrong.",
    ),
    Command(
        "publish",
        "compile a notebook into a new workflow version (a new number only when its steps changed)",
        args=(
            arg("notebook", help="path of the .ipynb file", faces=_CLI),
            arg("--name", required=True, help="workflow name", faces=_CLI),
            arg("workflow", help="workflow name: the step cells this kernel ran", faces=_MAGIC),
            arg(
                "--notebook",
                metavar="PATH",
                help="the notebook's file, to read its cell tagged parameters",
                faces=_MAGIC,
            ),
            arg(
                "--on-failure",
                choices=ON_FAILURE_CHOICES,
                help="after a step fails for good: stop (no further step starts; the "
                "default) or continue (steps that do not depend on it still run); "
                "default: the notebook's metadata.flowat.on_failure, else stop",
            ),
            arg(
                "--queue",
                metavar="Q",
                help="task queue of every code, action and sub-workflow step without its own "
                "--queue (workers: flowat worker --queue Q); default: the notebook's "
                "metadata.flowat.queue, else the run's own",
            ),
        ),
        cli=_C + "cmd_publish",
        magic=_M + "publish",
    ),
    Command(
        "run",
        "run a workflow version and wait for it",
        args=(
            arg("workflow", nargs="?", help="workflow name", faces=_CLI),
            arg("workflow", help="workflow name", faces=_MAGIC),
            arg(
                "--notebook",
                metavar="NB.ipynb",
                help="publish this .ipynb first (when changed), then run it",
                faces=_CLI,
            ),
            _PARAM,
            arg("--version", type=int, metavar="N", help="version number (default: latest)"),
            arg(
                "--timeout",
                type=float,
                metavar="SECONDS",
                help="end the run as timed_out after this",
                faces=_CLI,
            ),
            _NO_WAIT,
            _WORKER,
            arg(
                "--graph",
                action="store_true",
                help="show the run's graph, coloured live",
                faces=_MAGIC,
            ),
        ),
        cli=_C + "cmd_run",
        magic=_M + "run",
    ),
    Command(
        "rerun",
        "re-run a run from the steps that did not succeed",
        args=(
            _RUN_ID,
            arg(
                "--version",
                type=version_choice,
                default="same",
                metavar="same|latest|N",
                help="'same' (default), 'latest', or a version number, e.g. after fixing a step",
            ),
            _NO_WAIT,
            _WORKER,
        ),
        cli=_C + "cmd_rerun",
        magic=_M + "rerun",
    ),
    Command(
        "cancel",
        "cancel a running run and wait until it has stopped",
        args=(
            _RUN_ID,
            arg(
                "--wait",
                type=float,
                default=120.0,
                metavar="SECONDS",
                help="how long to wait (120)",
            ),
        ),
        cli=_C + "cmd_cancel",
        magic=_M + "cancel",
    ),
    Command(
        "signal",
        "send a signal to a run: a --wait-for step waiting for it takes the payload",
        args=(
            _RUN_ID,
            arg("name", help="the signal's name, as given to --wait-for"),
            arg("-p", "--param", action="append", metavar="KEY=VALUE", help="payload field"),
            arg("--data", metavar="JSON", help="the whole payload as JSON"),
        ),
        cli="flowat_kernel.cli.signals:cmd_signal",
        magic=_M + "signal",
    ),
    Command(
        "versions",
        "list a workflow's versions, newest first",
        args=(_WORKFLOW,),
        cli=_C + "cmd_versions",
        magic=_M + "versions",
    ),
    Command(
        "runs",
        "list recent runs, newest first",
        args=(
            arg("workflow", nargs="?", help="only this workflow's runs (or: delete)"),
            arg("run_ids", nargs="*", metavar="RUN", help="delete: the runs (ids or prefixes)"),
            arg("--limit", type=int, default=20, metavar="N", help="how many (20)"),
            arg("--force", action="store_true", help="delete: also active runs (terminated)"),
        ),
        description="flowat runs delete RUN... deletes runs with their records, logs, outputs, "
        "artifacts, analytics events and Temporal executions; the audit log keeps who did.",
        cli=_R + "cmd_runs",
        magic=_RM + "runs",
    ),
    Command(
        "report",
        "export a run as an executed notebook (papermill's output format)",
        args=(
            _RUN_ID,
            arg(
                "-o",
                "--output",
                metavar="OUT.ipynb",
                help="where to write the notebook (command line default: RUN_ID.ipynb here; "
                "in a notebook it is only shown unless given)",
            ),
        ),
        cli="flowat_kernel.cli.reports:cmd_report",
        magic="flowat_kernel.notebook.report_magic:report",
    ),
    Command(
        "editor",
        "the graph editor of a workflow: edit steps and settings, save a new version",
        args=(
            _WORKFLOW,
            arg("--version", type=int, metavar="N", help="the version shown (default: latest)"),
            arg("--notebook", metavar="PATH", help="also write edited step lines to this file"),
        ),
        magic=_ED + "editor",
    ),
    Command(
        "diff",
        "two versions of a workflow side by side",
        args=(
            _WORKFLOW,
            arg("old", type=int, metavar="A", help="the older version"),
            arg("new", type=int, metavar="B", help="the newer version"),
        ),
        magic=_ED + "diff",
    ),
    Command(
        "monitor",
        "a run's graph, coloured by step state, live until the run ends",
        args=(
            _RUN_ID,
            arg(
                "--interval",
                type=float,
                default=0.5,
                metavar="SECONDS",
                help="seconds between updates (0.5)",
            ),
        ),
        magic=_ED + "monitor",
    ),
    Command(
        "debug",
        "load the inputs a step received in a run into the kernel",
        args=(
            _RUN_ID,
            arg("step", help="the step's name"),
            arg(
                "--no-prelude",
                action="store_true",
                help="without the imports and functions the step uses",
            ),
        ),
        magic=_ED + "debug",
    ),
    Command(
        "resume",
        "publish the step cells run here and re-run a run from its failed step",
        args=(
            _RUN_ID,
            arg("--notebook", metavar="PATH", help="the notebook's file, for its parameters cell"),
        ),
        magic=_ED + "resume",
    ),
    Command(
        "steps",
        "the step names registered in this kernel",
        magic=_M + "steps",
    ),
    Command(
        "worker",
        "run a long-lived worker for the task queue(s)",
        args=(
            arg(
                "--queue",
                metavar="A,B",
                help="task queues to poll, comma-separated (default: the shared queue, "
                "FLOWAT_TASK_QUEUE); steps published with --queue A run only on workers of A",
            ),
            arg(
                "--max-concurrent-steps",
                type=int,
                metavar="N",
                help="step activities run at a time (32)",
            ),
            arg(
                "--max-concurrent-local",
                type=int,
                metavar="N",
                help="--local steps and bookkeeping at a time (as many as steps)",
            ),
            arg(
                "--metrics-port",
                type=int,
                metavar="P",
                help="serve Prometheus metrics on http://127.0.0.1:P/metrics (0 picks a port)",
            ),
            arg(
                "--metrics-host", metavar="HOST", help="address of the metrics endpoint (127.0.0.1)"
            ),
            arg(
                "--name", help="this worker's name (Temporal's poller identity, FLOWAT_WORKER_NAME)"
            ),
        ),
        cli=_C + "cmd_worker",
    ),
    Command(
        "queues",
        "task queues: backlog, pollers and age of the oldest task (for autoscaling)",
        args=(
            arg(
                "names",
                nargs="*",
                metavar="QUEUE",
                help="queues to report (default: the shared queue and every queue a "
                "registered worker polls)",
            ),
        ),
        cli="flowat_kernel.cli.queues:cmd_queues",
        json_help="print the report as JSON",
    ),
    Command(
        "dev",
        "embedded stack: Temporal dev server, a worker, the REST API",
        cli=_C + "cmd_dev",
    ),
    Command(
        "serve",
        "the REST API and webhooks, headless (OpenAPI at /api/v1/openapi.json)",
        args=(
            arg("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)"),
            arg(
                "--port",
                type=int,
                default=DEFAULT_API_PORT,
                help=f"port ({DEFAULT_API_PORT}; 0 picks one)",
            ),
        ),
        cli="flowat_kernel.cli.serve:cmd_serve",
        json_help="print the URL as JSON once listening",
    ),
    Command(
        "server",
        "manage the embedded Temporal dev server",
        args=(arg("action", choices=("status", "start", "stop"), help="what to do"),),
        cli=_C + "cmd_server",
    ),
    Command(
        "schema",
        "print the JSON schema of a workflow spec",
        cli=_C + "cmd_schema",
    ),
    Command(
        "connectors",
        "list installed connectors and their actions",
        cli=_C + "cmd_connectors",
        magic=_M + "connectors",
    ),
    Command(
        "history",
        "a run's Temporal history, decrypted and masked",
        args=(_RUN_ID,),
        cli=_C + "cmd_history",
    ),
    Command(
        "secrets",
        "manage the credential vault (values only ever from standard input or a prompt)",
        magic_name="secret",
        description="Values are never taken from arguments: the command line reads standard "
        "input (a hidden prompt on a terminal), the notebook asks with a password prompt.",
        actions=(
            Command(
                "set",
                "store or rotate a secret; the value is read from stdin (asked for in a notebook)",
                args=(
                    arg("name", help="the secret's name", faces=_CLI),
                    arg("name", nargs="?", help="the secret's name", faces=_MAGIC),
                    arg("typed", nargs="...", hidden=True, faces=_MAGIC),
                ),
                cli="flowat_kernel.cli.secrets:cmd_set",
                magic=_M + "secret_set",
            ),
            Command(
                "list",
                "list secrets: metadata only, never values",
                cli="flowat_kernel.cli.secrets:cmd_list",
                magic=_M + "secret_list",
            ),
            Command(
                "delete",
                "delete a secret",
                args=(arg("name", help="the secret's name"),),
                cli="flowat_kernel.cli.secrets:cmd_delete",
                magic=_M + "secret_delete",
            ),
            Command(
                "history",
                "when a secret was set, rotated or deleted",
                args=(arg("name", help="the secret's name"),),
                cli="flowat_kernel.cli.secrets:cmd_history",
            ),
            Command(
                "rotate-key",
                "new master key; re-wrap every data key under it",
                cli="flowat_kernel.cli.secrets:cmd_rotate_key",
            ),
            Command(
                "retire-key",
                "retire an old master key no row needs",
                args=(arg("key_id", metavar="KEY_ID", help="the master key's id"),),
                cli="flowat_kernel.cli.secrets:cmd_retire_key",
            ),
        ),
    ),
    Command(
        "dlq",
        "dead-letter queue: steps that exhausted their retries",
        description="Inspect, re-drive or discard steps that exhausted their retries. In a "
        "notebook, %flowat dlq alone lists the parked entries.",
        default_action="list",
        actions=(
            Command(
                "list",
                "parked entries, newest first",
                args=(
                    arg("--all", action="store_true", help="also retried and discarded ones"),
                    arg("--limit", type=int, default=50, metavar="N", help="how many (50)"),
                ),
                cli="flowat_kernel.cli.dlq:cmd_list",
                magic=_M + "dlq_list",
            ),
            Command(
                "show",
                "one entry: context, error and its input (masked)",
                args=(arg("id", metavar="ID", help="the entry's id"),),
                cli="flowat_kernel.cli.dlq:cmd_show",
                magic=_M + "dlq_show",
            ),
            Command(
                "retry",
                "re-run once from the failed step, on the latest version",
                args=(
                    arg("id", metavar="ID", help="the entry's id"),
                    arg("--no-wait", action="store_true", help="start the re-run and return"),
                    _WORKER,
                ),
                cli="flowat_kernel.cli.dlq:cmd_retry",
                magic=_M + "dlq_retry",
            ),
            Command(
                "discard",
                "discard an entry",
                args=(arg("id", metavar="ID", help="the entry's id"),),
                cli="flowat_kernel.cli.dlq:cmd_discard",
                magic=_M + "dlq_discard",
            ),
        ),
    ),
    Command(
        "analytics",
        "SQL over every run and step (DuckDB views), and retention",
        description="Query the analytics views (runs, steps, workflow_stats, step_stats, "
        "connector_health, llm_usage, dlq, schedule_lateness) and manage retention.",
        actions=(
            Command(
                "sql",
                "run a SQL query over the analytics views",
                args=(arg("query", help="the SQL query"),),
                cli="flowat_kernel.cli.analytics:cmd_sql",
            ),
            Command(
                "compact",
                "merge small event files; expire old days",
                args=(
                    arg(
                        "--retention-days",
                        type=int,
                        metavar="N",
                        help="keep this many days (default: all)",
                    ),
                ),
                cli="flowat_kernel.cli.analytics:cmd_compact",
            ),
        ),
    ),
    Command(
        "sql",
        "a SQL query over the analytics views (the cell's text); returns a data frame",
        cell=True,
        magic=_M + "sql_cell",
        usage="%%flowat sql",
    ),
    Command(
        "dashboard",
        "runs, failures, durations, errors and LLM cost, refreshed while runs happen",
        args=(arg("workflow", nargs="?", help="only this workflow"),),
        magic=_M + "dashboard",
    ),
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
    Command(
        "help",
        "the full help of a command, as flowat COMMAND --help prints it",
        args=(arg("topic", nargs="*", metavar="COMMAND", help="a command, and maybe its action"),),
        magic=_M + "help_command",
    ),
)
