"""Export and import through the CLI, the magics and REST, against the real store and vault.

A canary secret's value never reaches a bundle; missing requirements are listed all at
once and nothing is imported; notebooks are never overwritten without ``--force``; the
REST endpoints keep the permissions of reading and publishing workflows.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

import flowat_kernel as flowat
from flowat_kernel.access import Role
from flowat_kernel.bundles import read_bundle
from flowat_kernel.cli.main import main
from flowat_kernel.compiler import compile_cells
from flowat_kernel.compiler.cells import cells_from_notebook
from flowat_kernel.testing import cells
from tests.server.helpers import Api, api_server, new_org  # noqa: F401

STEPS = (
    "%%flowat step first --local\n"
    "_key = flowat.secret(key_name)\n"
    "print('key is', _key.reveal())\n"
    "doubled = n * 2\n",
    "%%flowat step second --local\nresult = {'doubled': doubled, 'n': n}\n",
)
PARAMETERS = "n: int = 3\nkey_name = 'canary_key'"


def cli(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


@pytest.fixture
def canary(temporal: str) -> str:
    value = "canary-" + secrets.token_hex(16)
    flowat.set_secret("canary_key", value)
    return value


@pytest.fixture
def published(canary: str, workflow_name: str) -> str:
    flowat.publish(workflow_name, cells=cells(*STEPS, parameters=PARAMETERS))
    return workflow_name


def test_export_holds_what_the_workflow_needs_and_never_the_secret_value(
    published: str, canary: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The secret was revealed in a run (so the vault's and run's records know it).
    run = flowat.run(published)
    assert run.status == "succeeded", run.error
    target = tmp_path / "out.flowat"
    code, document, _ = cli(
        "export",
        published,
        "-o",
        str(target),
        "--tag",
        "demo",
        "--description",
        "doubles n",
        capsys=capsys,
    )
    assert code == 0 and document["path"] == str(target)
    raw = target.read_bytes()
    assert canary.encode() not in raw
    assert canary[len("canary-") :].encode() not in raw
    bundle = read_bundle(target)
    assert bundle.requires.secrets == ("canary_key",)
    assert bundle.tags == ("demo",) and bundle.description == "doubles n"
    assert [(p.name, p.type, p.default) for p in bundle.parameters] == [
        ("n", "int", 3),
        ("key_name", "str", "canary_key"),
    ]
    assert bundle.spec_hash == flowat.versions(published)[0].spec_hash
    # The notebook rebuilt from the version compiles back to the same spec.
    rebuilt = compile_cells(cells_from_notebook(bundle.notebook), published)
    assert rebuilt.content_hash() == bundle.spec_hash
    # An existing file is not overwritten without --force.
    code, document, _ = cli("export", published, "-o", str(target), capsys=capsys)
    assert code == 2 and "already exists" in document["error"]["message"]


def test_import_publishes_under_a_new_name_and_writes_the_notebook(
    published: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle_file = tmp_path / "w.flowat"
    assert main(["export", published, "-o", str(bundle_file)]) == 0
    capsys.readouterr()
    copy = published + "_copy"
    code, document, _ = cli(
        "import", str(bundle_file), "--name", copy, "--dir", str(tmp_path), capsys=capsys
    )
    assert code == 0, document
    assert document["workflow"] == copy and document["version"] == 1 and document["created"]
    notebook = tmp_path / f"{copy}.ipynb"
    assert document["notebook"] == str(notebook)
    written = json.loads(notebook.read_text())
    assert written["metadata"]["flowat"]["workflow"] == copy
    # The written notebook publishes to the same content as the import did.
    again = flowat.publish(copy, notebook=notebook)
    assert not again.created and again.number == 1
    run = flowat.run(copy, parameters={"n": 5})
    assert run.status == "succeeded" and run.outputs["second"]["result"]["doubled"] == 10
    # A second import would overwrite the notebook: refused, nothing published.
    code, document, _ = cli(
        "import", str(bundle_file), "--name", copy + "_b", "--dir", str(tmp_path), capsys=capsys
    )
    assert code == 0
    before = len(flowat.versions(copy))
    code, document, _ = cli(
        "import", str(bundle_file), "--name", copy, "--dir", str(tmp_path), capsys=capsys
    )
    assert code == 2 and "already exists" in document["error"]["message"]
    assert len(flowat.versions(copy)) == before
    code, document, _ = cli(
        "import",
        str(bundle_file),
        "--name",
        copy,
        "--dir",
        str(tmp_path),
        "--force",
        capsys=capsys,
    )
    assert code == 0 and not document["created"]


def test_missing_connector_package_and_secret_are_listed_together(
    temporal: str, workflow_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = (
        "%%flowat step s\n"
        "import flowat_no_such_package_xyz\n"
        "_a = flowat.action('nosuchconnector.go', x=1)\n"
        "_k = flowat.secret('never_set_secret_xyz')\n"
        "out = 1\n",
    )
    flowat.publish(workflow_name, cells=cells(*steps))
    bundle_file = tmp_path / "needs.flowat"
    assert main(["export", workflow_name, "-o", str(bundle_file)]) == 0
    capsys.readouterr()
    code, document, _ = cli(
        "import",
        str(bundle_file),
        "--name",
        workflow_name + "_x",
        "--dir",
        str(tmp_path),
        capsys=capsys,
    )
    assert code == 2
    message = document["error"]["message"]
    for needed in ("nosuchconnector", "flowat_no_such_package_xyz", "never_set_secret_xyz"):
        assert needed in message
    assert "nothing was imported" in message
    assert not (tmp_path / f"{workflow_name}_x.ipynb").exists()
    with pytest.raises(flowat.NotFoundError):
        flowat.versions(workflow_name + "_x")


def test_tampered_and_newer_bundles_are_refused_by_import(
    published: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle_file = tmp_path / "t.flowat"
    assert main(["export", published, "-o", str(bundle_file)]) == 0
    capsys.readouterr()
    data = json.loads(bundle_file.read_text())
    data["spec"]["steps"][1]["source"] = "result = 'pwned'"
    bundle_file.write_text(json.dumps(data))
    code, document, _ = cli("import", str(bundle_file), "--name", "tampered", capsys=capsys)
    assert code == 2 and "changed after it was exported" in document["error"]["message"]
    data["flowat_bundle"] = 99
    bundle_file.write_text(json.dumps(data))
    code, document, _ = cli("import", str(bundle_file), "--name", "tampered", capsys=capsys)
    assert code == 2 and "newer FlowAt" in document["error"]["message"]


def test_magics_export_and_import(published: str, tmp_path: Path, shell: Any) -> None:
    target = tmp_path / "m.flowat"
    exported = shell.run_line_magic("flowat", f"export {published} -o {target}")
    assert exported.data["path"] == str(target)
    imported = shell.run_line_magic(
        "flowat", f"import {target} --name {published}_m --dir {tmp_path}"
    )
    assert imported.data["workflow"] == f"{published}_m"
    assert (tmp_path / f"{published}_m.ipynb").exists()
    assert "notebook written to" in repr(imported)


def test_rest_export_and_import_keep_the_workflow_permissions(
    api_server: str,  # noqa: F811
    canary: str,
) -> None:
    org = new_org("bundles")
    owner = Api(api_server, org.keys[Role.OWNER])
    viewer = Api(api_server, org.keys[Role.VIEWER])
    editor = Api(api_server, org.keys[Role.EDITOR])
    notebook = {
        "cells": [
            {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "n = 2"},
            {"cell_type": "code", "metadata": {}, "source": "%%flowat step s\nout = n + 1"},
        ]
    }
    made = owner.post("/workflows", json={"name": "shared", "notebook": notebook})
    assert made.status_code == 201
    exported = viewer.get("/workflows/shared/export?version=1")
    assert exported.status_code == 200, exported.text
    document = exported.json()
    assert document["name"] == "shared" and document["parameters"][0]["name"] == "n"
    body = json.dumps(document).encode()
    refused = viewer.post("/workflows/import?name=copied", content=body)
    assert refused.status_code == 403
    made = editor.post("/workflows/import?name=copied", content=body)
    assert made.status_code == 201, made.text
    assert made.json()["workflow"] == "copied" and made.json()["notebook"] is None
    # Published by an Editor: the code runs untrusted, so its spec (and hash) differ.
    version = owner.get("/workflows/copied/versions/1").json()
    assert all(s["untrusted"] for s in version["spec"]["steps"])
    assert owner.post("/workflows/import?name=copied", content=body).status_code == 201
    tampered = dict(document, spec_hash="sha256:" + "0" * 64)
    reply = editor.post("/workflows/import", content=json.dumps(tampered).encode())
    assert reply.status_code == 422 and "changed after" in reply.json()["error"]["message"]
    deep = b'{"flowat_bundle": 1, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    reply = editor.post("/workflows/import", content=deep)
    assert reply.status_code == 422 and "deeper than" in reply.json()["error"]["message"]
    assert editor.post("/workflows/import", content=b"").status_code == 422
    other = Api(api_server, new_org("other").keys[Role.OWNER])
    assert other.get("/workflows/shared/export").status_code == 404
    # Another organization's canary never shows in an export either.
    assert (
        canary
        not in httpx.get(
            f"{api_server}/api/v1/workflows/shared/export",
            headers={"Authorization": f"Bearer {org.keys[Role.OWNER]}"},
        ).text
    )
