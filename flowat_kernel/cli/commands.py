"""CLI command handlers: parse nothing, call the Python API, print the result.

The commands are declared in :mod:`flowat_kernel.commands.catalog`; each handler takes
the parsed arguments and returns the exit code. The API is imported when a command
runs, so that ``flowat --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowat_kernel.cli import handoff
from flowat_kernel.cli.lifecycle import stop_event, wait_until
from flowat_kernel.cli.output import ProgressPrinter, print_json, published_document, table
from flowat_kernel.commands import CommandError, parameters
from flowat_kernel.commands.rows import run_rows, version_rows

if TYPE_CHECKING:
    from flowat_kernel.api import Published
    from flowat_kernel.run_result import Run
    from flowat_kernel.store import RunRecord

__all__ = [
    "cmd_cancel",
    "cmd_connectors",
    "cmd_dev",
    "cmd_history",
    "cmd_publish",
    "cmd_rerun",
    "cmd_run",
    "cmd_runs",
    "cmd_schema",
    "cmd_server",
    "cmd_versions",
    "cmd_worker",
]


def cmd_publish(args: argparse.Namespace) -> int:
    """``flowat publish NOTEBOOK --name W``.

    Handed to a live ``flowat worker`` of this installation when there is one (it has
    the store and the compiler loaded: :mod:`.handoff`), else done here.
    """
    if handoff.enabled() and Path(args.notebook).is_file():
        outcome = handoff.handoff_publish(
            Path(args.notebook), name=args.name, on_failure=args.on_failure, queue=args.queue
        )
        if outcome is not None:
            done, error = outcome
            if error is not None:
                return _handed_error(error)
            assert done is not None
            if args.json:
                print_json(done["document"])
            else:
                print(done["text"])
            return 0
    from flowat_kernel import api

    published = api.publish(
        args.name, notebook=args.notebook, on_failure=args.on_failure, queue=args.queue
    )
    if args.json:
        print_json(published_document(published))
    else:
        print(published)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """``flowat run W [-p k=v ...] [--version N]``: run and wait.

    With ``--notebook NB.ipynb`` the notebook is published first (a new version only
    when its steps changed) and that version runs; ``W`` then defaults to the notebook's
    workflow name.
    """
    given = parameters(args.param)
    if not getattr(args, "notebook", None) and args.workflow and handoff.wanted(args.worker):
        handed = _handed_run(args, given)
        if handed is not None:
            return handed
    from flowat_kernel.cli.early_start import start_step_processes

    start_step_processes(args.worker)
    from flowat_kernel import api

    if getattr(args, "notebook", None):
        return _run_notebook(args, given)
    if not args.workflow:
        raise CommandError("flowat run: name a WORKFLOW, or give --notebook NB.ipynb")
    _announce(args)
    run = api.run(
        args.workflow,
        version=args.version,
        parameters=given,
        wait=not args.no_wait,
        progress=ProgressPrinter(),
        trigger="cli",
        worker=args.worker,
        timeout=args.timeout,
    )
    return _report(run, args)


def _announce(args: argparse.Namespace) -> None:
    """``running W vN`` on standard error, unless the output is JSON."""
    if not args.json:
        sys.stderr.write(
            f"running {args.workflow}" + (f" v{args.version}" if args.version else "") + "\n"
        )


def _handed_run(args: argparse.Namespace, given: dict[str, str]) -> int | None:
    """The run handed to a live ``flowat worker`` (:mod:`.handoff`), or ``None``."""
    _announce(args)
    outcome = handoff.handoff_run(
        args.workflow,
        version=args.version,
        parameters=given,
        wait=not args.no_wait,
        timeout=args.timeout,
        progress=not args.json,
    )
    if outcome is None:
        return None
    document, error = outcome
    if error is not None:
        return _handed_error(error)
    assert document is not None
    return _report_document(document, args)


def _handed_error(error: dict[str, Any]) -> int:
    """Print a worker's error as this process would have; its exit code."""
    print(f"flowat: error: {error.get('message')}", file=sys.stderr)
    code = error.get("code")
    return code if isinstance(code, int) and code > 0 else 1


def _run_notebook(args: argparse.Namespace, given: dict[str, str]) -> int:
    """``flowat run [W] --notebook NB.ipynb``: publish when changed, then run."""
    from flowat_kernel import api

    if args.version is not None:
        raise CommandError(
            "flowat run: --version and --notebook do not go together; --notebook runs the "
            "version the notebook publishes"
        )

    def published(outcome: Published) -> None:
        if not args.json:
            sys.stderr.write(outcome.summary() + "\n")

    run = api.run_notebook(
        args.notebook,
        workflow=args.workflow,
        parameters=given,
        published=published,
        wait=not args.no_wait,
        progress=ProgressPrinter(),
        trigger="cli",
        worker=args.worker,
        timeout=args.timeout,
    )
    return _report(run, args)


def cmd_rerun(args: argparse.Namespace) -> int:
    """``flowat rerun RUN [--version N|latest]``: re-run from the steps that did not succeed."""
    from flowat_kernel import api

    if not args.json:
        sys.stderr.write(f"re-running {args.run_id}\n")
    run = api.rerun(
        args.run_id,
        version=args.version,
        wait=not args.no_wait,
        progress=ProgressPrinter(),
        worker=args.worker,
    )
    return _report(run, args)


def cmd_cancel(args: argparse.Namespace) -> int:
    """``flowat cancel RUN``: cancel a running run (and wait for it to stop)."""
    from flowat_kernel import api

    api.cancel(args.run_id)
    run = api.wait(args.run_id, timeout=args.wait)
    return _report(run, args, ok=("cancelled",))


def _report(run: Run, args: argparse.Namespace, ok: tuple[str, ...] = ()) -> int:
    """Print a run (JSON or text); the exit code says whether it succeeded."""
    return _report_document(run.to_json(), args, ok)


def _report_document(
    document: dict[str, Any], args: argparse.Namespace, ok: tuple[str, ...] = ()
) -> int:
    """Print a run's ``--json`` document (or its text); the exit code, as :func:`_report`."""
    if args.json:
        print_json(document)
    else:
        print(
            f"{document['workflow']} v{document['version']} run {document['run_id']}: "
            f"{document['status']}"
        )
        error = document.get("error")
        if error:
            print(f"error: {error.get('message')}", file=sys.stderr)
        for step, values in document["outputs"].items():
            for name, value in values.items():
                print(f"  {step}.{name} = {value}")
    return 0 if document["status"] in ("succeeded", "queued", "running", *ok) else 1


def cmd_versions(args: argparse.Namespace) -> int:
    """``flowat versions W``."""
    from flowat_kernel import api

    records = api.versions(args.workflow)
    if args.json:
        print_json(
            [
                {**v.model_dump(exclude={"spec"}), "steps": [s.name for s in v.spec.steps]}
                for v in records
            ]
        )
    else:
        print(table(*version_rows(records)))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    """``flowat runs [W]``: the local user's runs read light (``light_runs``), else via the API."""
    from flowat_kernel.cli.light_runs import light_listing

    listing = light_listing(args.workflow, args.limit)
    places: dict[str, int] = {}
    if listing is not None:
        records, notes = listing.records, listing.notes
    else:
        from flowat_kernel import api

        records = api.runs(args.workflow, limit=args.limit)
        notes = _waiting_notes(records)
        queued = [r.run_id for r in records if r.status == "queued"]
        places = api.default_workspace().queue_positions(queued) if queued else {}
        notes.update({run: f"{place} in line for a slot" for run, place in places.items()})
    if args.json:
        print_json(
            [
                {
                    **r.model_dump(exclude={"steps"}),
                    **({"waiting": notes[r.run_id]} if r.run_id in notes else {}),
                    **({"queue_position": places[r.run_id]} if r.run_id in places else {}),
                }
                for r in records
            ]
        )
    else:
        print(table(*run_rows(records, notes)) if records else "no runs yet")
    return 0


def _waiting_notes(records: list[RunRecord]) -> dict[str, str]:
    """For runs still going: which task queues their steps wait on for a worker."""
    from flowat_kernel import api
    from flowat_kernel.commands.rows import waiting_note

    notes = {}
    for record in records:
        if record.status == "running":
            note = waiting_note(api.get_run(record.run_id).record)
            if note:
                notes[record.run_id] = note
    return notes


def cmd_worker(args: argparse.Namespace) -> int:
    """``flowat worker``: poll task queues until interrupted (see ``cli/worker.py``)."""
    from flowat_kernel.cli.worker import run_worker

    return run_worker(args)


def cmd_dev(args: argparse.Namespace) -> int:
    """``flowat dev``: embedded Temporal, a worker and the REST API, until interrupted."""
    from flowat_kernel.engine import devserver
    from flowat_kernel.runtime import get_runtime

    stop = stop_event()
    runtime = get_runtime()
    settings = runtime.settings
    started = False
    if settings.temporal_address:
        sys.stderr.write(f"Temporal: {settings.temporal_address} (FLOWAT_TEMPORAL_ADDRESS)\n")
    else:
        server, started = devserver.ensure_running(
            settings.temporal_dir, settings.temporal_namespace
        )
        sys.stderr.write(
            f"Temporal dev server: {server.address} "
            f"({'started' if started else 'already running'})\n"
            f"Temporal Web UI:     {server.ui_url}\n"
            f"Temporal database:   {server.database}\n"
        )
    runtime.call(runtime.ensure_worker())
    from flowat_kernel.cli.serve import start_dev_api

    api_server = start_dev_api()
    sys.stderr.write(
        f"Worker: polling task queue {settings.task_queue!r}\n"
        f"Metadata store: {runtime.store.engine.url.render_as_string(hide_password=True)}\n"
        "Ctrl-C stops everything this command started.\n"
    )
    wait_until(stop)
    api_server.stop()
    runtime.close()
    if started:
        devserver.stop(settings.temporal_dir)
        sys.stderr.write("stopped the embedded Temporal dev server\n")
    return 0


def cmd_server(args: argparse.Namespace) -> int:
    """``flowat server status|start|stop``: manage the embedded Temporal dev server."""
    from flowat_kernel.config import settings as read_settings
    from flowat_kernel.engine import devserver

    folder = read_settings().temporal_dir
    if args.action == "stop":
        stopped = devserver.stop(folder)
        message = "stopped" if stopped else "not running"
        document: dict[str, object] = {"running": False, "stopped": stopped}
    else:
        if args.action == "start":
            devserver.ensure_running(folder, read_settings().temporal_namespace)
        server = devserver.status(folder)
        message = (
            f"running at {server.address}, Web UI {server.ui_url}" if server else "not running"
        )
        document = {"running": server is not None}
        if server:
            document.update({"address": server.address, "ui": server.ui_url, "pid": server.pid})
    if args.json:
        print_json(document)
    else:
        print(f"embedded Temporal dev server: {message}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    """``flowat schema``: the JSON schema of a workflow spec."""
    from flowat_kernel.spec import json_schema

    print_json(json_schema())
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """``flowat history RUN``: the run's Temporal history, decrypted, secrets masked."""
    from flowat_kernel import api

    events = api.history(args.run_id)
    if args.json:
        print_json(events)
        return 0
    for event in events:
        kind = str(event.get("eventType", "")).removeprefix("EVENT_TYPE_")
        attributes = {k: v for k, v in event.items() if k.endswith("Attributes")}
        print(f"{event.get('eventId', '?'):>4}  {kind}")
        for value in attributes.values():
            print("      " + json.dumps(value, default=str)[:400])
    return 0


def cmd_connectors(args: argparse.Namespace) -> int:
    """``flowat connectors``: installed connectors, their actions and input fields."""
    from flowat_kernel.sdk.registry import connectors

    found = connectors()
    if args.json:
        print_json([c.describe() for c in sorted(found.values(), key=lambda c: c.id)])
        return 0
    rows = [
        (
            action.full_name,
            "yes" if action.retry_safe else "no",
            ", ".join(action.input.model_fields),
            action.description,
        )
        for connector in sorted(found.values(), key=lambda c: c.id)
        for action in connector.actions.values()
    ]
    print(
        table(["action", "retry-safe", "inputs", "description"], rows)
        if rows
        else "no connectors installed"
    )
    return 0
