"""Rate limits through REST, the CLI and the magic; who may change them; other orgs."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.access import Role
from flowat_kernel.access.errors import Forbidden
from flowat_kernel.api import workspace_for
from tests.server.helpers import Api, api, api_server, new_org  # noqa: F401


def test_rest_sets_lists_and_removes_and_only_administrators_change(
    flowat_home: Path,
    api_server: str,  # noqa: F811
) -> None:
    org = new_org("rl")
    admin = Api(api_server, org.keys[Role.ADMINISTRATOR])
    editor = Api(api_server, org.keys[Role.EDITOR])
    viewer = Api(api_server, org.keys[Role.VIEWER])
    body = {"host": "API.example.com:8443", "connector": "http", "concurrent": 2}
    for who in (editor, viewer):
        refused = who.put("/rate-limits", json=body)
        assert refused.status_code == 403, refused.text
    created = admin.put("/rate-limits", json=body)
    assert created.status_code == 200, created.text
    limit = created.json()
    assert (limit["host"], limit["connector"], limit["concurrent"]) == (
        "api.example.com:8443",
        "http",
        2,
    )
    assert limit["per_second"] is None and limit["updated_by"]
    replaced = admin.put("/rate-limits", json={**body, "per_second": 5, "concurrent": None})
    assert replaced.json()["per_second"] == 5 and replaced.json()["concurrent"] is None
    listed = viewer.get("/rate-limits")
    assert listed.status_code == 200
    assert [(i["host"], i["per_second"]) for i in listed.json()["items"]] == [
        ("api.example.com:8443", 5)
    ]
    # bad input: a clear 4xx naming what to fix, never a 5xx
    for bad, words in [
        ({"host": "https://api.example.com/x", "concurrent": 1}, "not a host"),
        ({"host": "api.example.com"}, "--per-second N, --concurrent N"),
        ({"host": "api.example.com", "concurrent": 0}, "greater than or equal to 1"),
        ({"host": "api.example.com", "concurrent": 1, "connector": "nope"}, "unknown connector"),
        ({"host": "api.example.com", "concurrent": 1, "extra": 1}, "extra"),
    ]:
        reply = admin.put("/rate-limits", json=bad)
        assert 400 <= reply.status_code < 500 and words in reply.text, (bad, reply.text)
    # another organization neither sees nor removes it
    other = Api(api_server, new_org("rl-other").keys[Role.OWNER])
    assert other.get("/rate-limits").json()["items"] == []
    gone = other.delete("/rate-limits/api.example.com:8443", params={"connector": "http"})
    assert gone.status_code == 404
    assert editor.delete("/rate-limits/api.example.com:8443").status_code == 403
    assert admin.delete("/rate-limits/api.example.com:8443").status_code == 404  # '*' not set
    removed = admin.delete("/rate-limits/api.example.com:8443", params={"connector": "http"})
    assert removed.status_code == 200, removed.text
    assert admin.get("/rate-limits").json()["items"] == []
    audit = admin.get("/audit", params={"action": "ratelimit.set"}).json()["items"]
    assert audit and audit[0]["target"] == "http@api.example.com:8443"


def test_an_editor_is_refused_through_the_python_api(flowat_home: Path) -> None:
    org = new_org("rl-py")
    editor = workspace_for(org.principal(Role.EDITOR))
    with pytest.raises(Forbidden, match="ratelimits:write"):
        editor.set_rate_limit("api.example.com", concurrent=1)
    assert editor.rate_limits() == []


def test_cli_and_magic(flowat_home: Path, shell: object) -> None:
    host = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flowat_kernel.cli.main", "ratelimit", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def magic(line: str) -> object:
        done = shell.run_cell(f"%flowat ratelimit {line}")  # type: ignore[attr-defined]
        assert done.error_in_exec is None, done.error_in_exec
        return done.result

    made = cli("set", host, "--per-second", "3", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["per_second"] == 3
    assert host in cli("list").stdout
    bad = cli("set", host)
    assert bad.returncode == 2 and "--per-second N, --concurrent N" in bad.stderr
    mine = [(x["host"], x["per_second"]) for x in magic("list") if x["host"] == host]  # type: ignore[attr-defined]
    assert mine == [(host, 3)]
    assert magic(f"set {host} --concurrent 1 --connector http")["connector"] == "http"  # type: ignore[index]
    ours = [x for x in flowat.api.default_workspace().rate_limits() if x.host == host]
    assert sorted(x.connector for x in ours) == ["*", "http"]
    magic(f"remove {host} --connector http")
    assert cli("remove", host).returncode == 0
    assert host not in cli("list", "--json").stdout
