"""The commands that operate FlowAt: workers, queues, servers, the vault, dead letters, analytics.

``worker``, ``queues``, ``dev``, ``serve``, ``server``, ``schema``, ``connectors``,
``history``, ``secrets``, ``dlq``, ``analytics``, ``sql`` and ``dashboard``.
"""

from __future__ import annotations

from flowat_kernel.commands.catalog_shared import _C, _CLI, _M, _MAGIC, _RUN_ID, _WORKER
from flowat_kernel.commands.model import Command, arg

__all__ = ["DEFAULT_API_PORT", "OPERATIONS_COMMANDS"]

#: The REST API's default port (``flowat_kernel.server.serve.DEFAULT_PORT``; a test
#: keeps them equal, so that ``flowat --help`` need not import the server).
DEFAULT_API_PORT = 8765

OPERATIONS_COMMANDS: tuple[Command, ...] = (
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
)
