"""The ``%flowat`` magic parsed from the shared declarations: help and error rendering.

None of these needs Temporal: help is printed before anything runs, and the failures
are raised by the API functions the magic calls.
"""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from flowat_kernel import api
from flowat_kernel.cli.main import main
from flowat_kernel.commands import CLI, COMMANDS, MAGIC, magic_usage
from flowat_kernel.errors import StoreError, TemporalUnavailable


def _both_faces() -> list[tuple[list[str], list[str]]]:
    """(CLI words, magic words) of every command and action that both faces have."""
    pairs = []
    for command in COMMANDS:
        if not (command.on(CLI) and command.on(MAGIC)):
            continue
        cli, magic = command.name_on(CLI), command.name_on(MAGIC)
        pairs.append(([cli], [magic]))
        for action in command.actions:
            if action.on(CLI) and action.on(MAGIC):
                pairs.append(([cli, action.name], [magic, action.name]))
    return pairs


def _cli_help(words: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main([*words, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def _magic_output(shell: InteractiveShell, line: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    result = shell.run_cell(line)
    assert result.success, line
    return capsys.readouterr().out


@pytest.mark.parametrize(("cli", "magic"), _both_faces(), ids=lambda w: " ".join(w))
def test_magic_help_is_the_cli_help(
    shell: InteractiveShell, cli: list[str], magic: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    expected = _cli_help(cli, capsys)
    assert f"usage: flowat {' '.join(cli)}" in expected
    assert f"%flowat {' '.join(magic)}" in expected  # one text shows both faces
    assert _magic_output(shell, f"%flowat help {' '.join(magic)}", capsys) == expected
    assert _magic_output(shell, f"%flowat {' '.join(magic)} --help", capsys) == expected
    assert _magic_output(shell, f"%flowat help {' '.join(cli)}", capsys) == expected


def test_both_faces_share_the_main_commands() -> None:
    shared = {words[0] for words, _ in _both_faces()}
    assert shared >= {"publish", "run", "rerun", "cancel", "signal", "versions", "runs"}
    assert shared >= {"report", "connectors", "secrets", "dlq", "schedules", "webhooks"}


def test_the_magic_docstring_lists_every_magic(shell: InteractiveShell) -> None:
    magics = shell.magics_manager.registry["FlowAtMagics"]
    doc = magics.flowat.__doc__
    assert doc is not None and magic_usage() in doc
    for command in COMMANDS:
        if command.on(MAGIC):
            prefix = "%%flowat" if command.cell else "%flowat"
            assert f"{prefix} {command.name_on(MAGIC)}" in doc
            assert command.help in doc
    info = shell.object_inspect("%flowat")
    assert info["found"] and "%flowat run WORKFLOW" in (info["docstring"] or "")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("%flowat run", "%flowat run: the following arguments are required: workflow"),
        ("%flowat frobnicate", "unknown command 'frobnicate'"),
        ("%flowat rerun r1 --version soon", "not 'soon'"),
        ("%flowat secret", "usage: %flowat secret set|list|delete"),
        ("%flowat secret set api typed-value", "usage: %flowat secret set NAME"),
        ("%flowat schedule pause", "usage: %flowat schedule pause SCHEDULE_ID"),
        ("%flowat help frobnicate", "no command 'frobnicate'"),
    ],
)
def test_a_usage_error_is_one_usage_error_line(
    shell: InteractiveShell, line: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = shell.run_cell(line)
    assert type(result.error_in_exec) is UsageError
    assert message in str(result.error_in_exec)
    assert "typed-value" not in str(result.error_in_exec)
    output = capsys.readouterr()
    assert "Traceback" not in output.out + output.err


@pytest.mark.parametrize(
    "failure", [StoreError("the store is down"), TemporalUnavailable("no Temporal")]
)
def test_a_failure_keeps_its_type_and_traceback(
    shell: InteractiveShell,
    failure: Exception,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise failure

    monkeypatch.setattr(api, "versions", broken)
    result = shell.run_cell("%flowat versions some_workflow")
    assert result.error_in_exec is failure  # re-raised unchanged, not a UsageError
    output = capsys.readouterr()
    assert "Traceback" in output.out + output.err
    assert "broken" in output.out + output.err  # where it happened


def test_cmd_methods_run_the_declared_commands(shell: InteractiveShell) -> None:
    magics = shell.magics_manager.registry["FlowAtMagics"]
    for command in COMMANDS:
        if command.on(MAGIC) and not command.cell:
            assert callable(getattr(magics, f"_cmd_{command.name_on(MAGIC)}"))
    assert magics._cmd_steps([]) == []
