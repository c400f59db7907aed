"""The template gallery: what ships, searching, user folders, and broken files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from flowat_kernel.bundles import bundle_from_notebook, gallery
from flowat_kernel.bundles.gallery import BUILTIN_GALLERY
from flowat_kernel.cli.main import main
from flowat_kernel.compiler import compile_cells
from flowat_kernel.compiler.cells import cells_from_notebook

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "templates").glob("*.ipynb"))
EXPECTED = {
    "api_to_duckdb",
    "report_by_email",
    "webhook_to_chat",
    "llm_summarise",
    "rag_local_docs",
    "data_quality_check",
    "approval_flow",
    "fanout_enrichment",
    "database_sync",
    "agent_with_tools",
}


@pytest.fixture(autouse=True)
def _no_user_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWAT_TEMPLATE_PATHS", raising=False)


def test_at_least_ten_templates_ship_each_built_from_its_notebook() -> None:
    found = gallery()
    assert not found.problems
    assert set(found.templates) >= EXPECTED and len(found.templates) >= 10
    assert {p.stem for p in SOURCES} == set(found.templates)
    for source in SOURCES:
        shipped = found.get(source.stem).bundle.model_dump(mode="json")
        built = bundle_from_notebook(source).model_dump(mode="json")
        for document in (shipped, built):
            document["source"].pop("flowat")
        assert shipped == built, f"rebuild the gallery: python templates/build.py ({source.name})"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_template_notebook_compiles_to_its_spec(name: str) -> None:
    bundle = gallery().get(name).bundle
    spec = bundle.workflow_spec()
    compiled = compile_cells(cells_from_notebook(bundle.notebook), name)
    assert compiled.content_hash() == bundle.spec_hash
    assert bundle.description and bundle.tags
    assert [p.name for p in bundle.parameters] == [i.name for i in spec.inputs]


def test_search_by_tag_and_show_parameters_and_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates", "list", "--tag", "LLM", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["items"]
    assert {r["name"] for r in rows} == {
        "llm_summarise",
        "rag_local_docs",
        "agent_with_tools",
    }
    assert all(r["secrets"] == ["openai_api_key"] for r in rows)
    assert main(["templates", "list", "--tag", "no-such-tag", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == []
    assert main(["templates", "show", "report_by_email"]) == 0
    shown = capsys.readouterr().out
    assert "smtp_password" in shown and "smtp_port" in shown and "int" in shown
    assert main(["templates", "show", "report_by_email", "--json"]) == 0
    details = json.loads(capsys.readouterr().out)
    assert details["requires"]["connectors"] == ["email"]
    assert details["steps"] == ["digest", "send"]
    assert main(["templates", "show", "nope", "--json"]) == 2
    assert "no template named 'nope'" in capsys.readouterr().out


def test_user_folders_add_and_replace_templates_and_broken_files_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copy(BUILTIN_GALLERY / "approval_flow.flowat", mine / "my_approval.flowat")
    data = json.loads((BUILTIN_GALLERY / "llm_summarise.flowat").read_text())
    data["description"] = "my own llm summary"
    (mine / "llm_summarise.flowat").write_text(json.dumps(data))
    (mine / "broken.flowat").write_text('{"flowat_bundle": 1, "spec": {}}')
    tampered = json.loads((BUILTIN_GALLERY / "api_to_duckdb.flowat").read_text())
    tampered["spec"]["steps"][0]["source"] = "orders = []"
    (mine / "tampered.flowat").write_text(json.dumps(tampered))
    monkeypatch.setenv("FLOWAT_TEMPLATE_PATHS", f"{mine}:{tmp_path / 'missing'}")
    found = gallery()
    assert found.get("my_approval").origin == "user"
    assert found.get("llm_summarise").bundle.description == "my own llm summary"
    assert found.get("api_to_duckdb").origin == "flowat"
    assert "tampered" not in found.templates and "broken" not in found.templates
    assert "changed after it was exported" in found.problems[str(mine / "tampered.flowat")]
    assert "not a folder" in found.problems[str(tmp_path / "missing")]
    assert main(["templates", "list"]) == 0
    captured = capsys.readouterr()
    assert "my_approval" in captured.out and "skipped" in captured.err
    assert main(["templates", "show", "tampered", "--json"]) == 2
    assert "cannot be used" in capsys.readouterr().out
