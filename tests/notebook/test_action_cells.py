"""Action step cells in a real IPython shell call their action, as a run does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from flowat_kernel.testing import LoopbackHTTPServer, Recorded, Reply


def _echo(request: Recorded) -> Reply:
    return Reply(body={"method": request.method, "path": request.path})


def run(shell: InteractiveShell, source: str) -> Any:
    result = shell.run_cell(source)
    if result.error_in_exec is not None:
        raise result.error_in_exec
    if result.error_before_exec is not None:
        raise result.error_before_exec
    return result.result


def test_an_action_cell_binds_the_actions_output(
    shell: InteractiveShell, flowat_home: Path
) -> None:
    with LoopbackHTTPServer(_echo) as server:
        run(shell, f"base = {server.url!r}")
        out = run(shell, "%%flowat step fetch --action http.request\nurl = base + '/x'")
        assert shell.user_ns["fetch"] == out
        assert out["status"] == 200 and out["json_body"] == {"method": "GET", "path": "/x"}
        assert [r.path for r in server.requests] == ["/x"]
        json.dumps(out)  # JSON, as later steps see it in a run


def test_a_foreach_action_cell_calls_once_per_item(
    shell: InteractiveShell, flowat_home: Path
) -> None:
    with LoopbackHTTPServer(_echo) as server:
        run(shell, f"base = {server.url!r}\npaths = ['/a', '/b', '/c']")
        run(shell, "%%flowat step each --action http.request --foreach paths\nurl = base + item")
        assert [r["json_body"]["path"] for r in shell.user_ns["each"]] == ["/a", "/b", "/c"]
        assert sorted(r.path for r in server.requests) == ["/a", "/b", "/c"]


def test_an_unknown_action_is_a_usage_error(shell: InteractiveShell, flowat_home: Path) -> None:
    result = shell.run_cell("%%flowat step x --action nope.call\nurl = 'u'")
    assert result.error_in_exec is not None
    assert "no connector 'nope'" in str(result.error_in_exec)
    with pytest.raises(KeyError):
        shell.user_ns["x"]
