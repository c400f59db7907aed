"""The CLI built from the command declarations: exit codes, errors, and a light start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flowat_kernel import api
from flowat_kernel.cli.main import build_parser, main
from flowat_kernel.commands import CLI, COMMANDS
from flowat_kernel.commands.catalog import DEFAULT_API_PORT, OVERLAP_POLICIES
from flowat_kernel.errors import StoreError, TemporalUnavailable

HEAVY = ("flowat_kernel.server", "flowat_kernel.engine", "pandas", "temporalio", "opentelemetry")
#: Tracing on must not make help slower: OpenTelemetry loads with the Temporal client only.
TRACED = {"FLOWAT_TRACING": "otlp"}


def _cli_paths() -> list[list[str]]:
    paths = []
    for command in COMMANDS:
        if command.on(CLI):
            paths.append([command.name])
            paths += [[command.name, a.name] for a in command.actions_on(CLI)]
    return paths


def test_help_and_the_parser_import_nothing_heavy(tmp_path: Path) -> None:
    """``flowat --help`` and every ``flowat CMD --help`` stay clear of the heavy modules."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from flowat_kernel.cli.main import build_parser, main
        build_parser()
        for argv in [["--help"], *{_cli_paths()!r}]:
            try:
                main([*argv, "--help"] if argv != ["--help"] else argv)
            except SystemExit as exc:
                assert exc.code == 0, (argv, exc.code)
        sys.stderr.write("MODULES " + json.dumps(sorted(sys.modules)))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "FLOWAT_HOME": str(tmp_path), **TRACED},
        timeout=120,
        check=True,
    )
    assert "usage: flowat run" in result.stdout
    modules = json.loads(result.stderr.rsplit("MODULES ", 1)[1])
    loaded = [m for m in modules if m.startswith(HEAVY)]
    assert loaded == [], f"flowat --help imported {loaded}"


def test_the_real_entry_point_prints_help_without_heavy_imports(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "flowat_kernel.cli.main", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "FLOWAT_HOME": str(tmp_path), **TRACED},
        timeout=120,
        check=True,
    )
    assert "COMMAND" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert not {m for m in imported if m.startswith(HEAVY)}


def test_every_declared_cli_command_is_in_the_parser() -> None:
    parser = build_parser()
    for argv in _cli_paths():
        with pytest.raises(SystemExit) as exited:
            parser.parse_args([*argv, "--help"])
        assert exited.value.code == 0


def test_constants_copied_to_keep_the_parser_light_are_current() -> None:
    from flowat_kernel.server.serve import DEFAULT_PORT
    from flowat_kernel.triggers import schedules

    assert DEFAULT_API_PORT == DEFAULT_PORT
    assert OVERLAP_POLICIES == schedules.OVERLAP_POLICIES


def test_a_usage_error_exits_two_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--json"]) == 2
    out, err = capsys.readouterr()
    assert err == "flowat: error: flowat run: name a WORKFLOW, or give --notebook NB.ipynb\n"
    assert json.loads(out)["error"]["type"] == "CommandError"
    with pytest.raises(SystemExit) as exited:
        main(["rerun", "r1", "--version", "soon"])
    assert exited.value.code == 2
    assert "write same, latest or a version number, not 'soon'" in capsys.readouterr().err


@pytest.mark.parametrize("failure", [StoreError("the store is down"), TemporalUnavailable("no")])
def test_an_infrastructure_failure_exits_one(
    failure: Exception, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise failure

    from flowat_kernel.cli import light_runs

    monkeypatch.setattr(api, "runs", broken)
    monkeypatch.setattr(light_runs, "light_listing", broken)  # the local user's listing
    assert main(["runs"]) == 1
    assert capsys.readouterr().err == f"flowat: error: {failure}\n"
    assert main(["runs", "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document == {"error": {"type": type(failure).__name__, "message": str(failure)}}
    monkeypatch.setattr(light_runs, "light_listing", lambda *a, **k: None)  # the workspace's
    assert main(["runs"]) == 1
    assert capsys.readouterr().err == f"flowat: error: {failure}\n"


def test_an_interrupt_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "versions", interrupted)
    assert main(["versions", "w"]) == 130
    assert capsys.readouterr().err == "flowat: interrupted\n"
