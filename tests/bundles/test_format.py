"""The .flowat format read defensively: versions, unknown fields, hashes, size, nesting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flowat_kernel.bundles import FORMAT_VERSION, BundleError, bundle_bytes, parse_bundle
from flowat_kernel.bundles.export import build_bundle, check_tags
from flowat_kernel.bundles.format import MAX_DEPTH, notebook_hash, read_bundle
from flowat_kernel.bundles.notebooks import notebook_from_spec
from flowat_kernel.bundles.requirements import derive_requirements
from flowat_kernel.compiler import compile_cells
from flowat_kernel.compiler.cells import cells_from_notebook
from flowat_kernel.testing import cells

SOURCE = (
    "%%flowat step fetch\n"
    "import httpx\n"
    "import yaml.representer\n"
    "from pandas import DataFrame\n"
    "_key = flowat.secret(key_name)\n"
    "_other = flowat.secret('literal_secret')\n"
    "_r = flowat.action('http.request', url=url)\n"
    "rows = [1, 2]\n",
    "%%flowat step store --action sql.execute\nurl = {'$secret': 'db_url'}\nsql = 'SELECT 1'\n",
    "%%flowat step boxed --untrusted --secret boxed_secret\nimport json\ntotal = len(rows)\n",
)


def spec() -> Any:
    return compile_cells(
        cells(*SOURCE, parameters="key_name = 'api_key'\nurl = 'http://x'"), "shared"
    )


def document() -> dict[str, Any]:
    made = spec()
    bundle = build_bundle(made, notebook_from_spec(made, "d"), description="d", tags=["Demo"])
    return json.loads(bundle_bytes(bundle))


def test_a_bundle_reads_back_as_written() -> None:
    data = document()
    bundle = parse_bundle(json.dumps(data))
    assert bundle.flowat_bundle == FORMAT_VERSION
    assert bundle.workflow_spec() == spec()
    assert bundle.tags == ("demo",)
    assert [p.name for p in bundle.parameters] == ["key_name", "url"]
    assert bundle.parameters[0].type == "str" and bundle.parameters[0].default == "api_key"


def test_requirements_come_from_the_spec() -> None:
    needs = derive_requirements(spec())
    assert needs.connectors == ("http", "sql")
    # stdlib (json) and FlowAt itself are not requirements; submodules count as their package
    assert [p.module for p in needs.packages] == ["httpx", "pandas", "yaml"]
    assert {p.module: p.distribution for p in needs.packages}["yaml"] == "PyYAML"
    # a parameter's default, a literal, a {"$secret"} input and --secret are all found
    assert needs.secrets == ("api_key", "boxed_secret", "db_url", "literal_secret")


def test_the_notebook_rebuilt_from_a_spec_compiles_back_to_it() -> None:
    made = spec()
    notebook = notebook_from_spec(made)
    assert compile_cells(cells_from_notebook(notebook), "shared").content_hash() == (
        made.content_hash()
    )


def test_a_newer_format_is_refused_not_misread() -> None:
    data = document()
    data["flowat_bundle"] = FORMAT_VERSION + 1
    with pytest.raises(BundleError, match=r"bundle format 2 by a newer FlowAt.*Upgrade"):
        parse_bundle(json.dumps(data))


@pytest.mark.parametrize("where", ["top", "requires"])
def test_unknown_fields_are_refused(where: str) -> None:
    data = document()
    if where == "top":
        data["signature"] = "abc"
    else:
        data["requires"]["gpus"] = 2
    with pytest.raises(BundleError, match="fields this FlowAt does not know"):
        parse_bundle(json.dumps(data))


def test_a_changed_spec_is_refused() -> None:
    data = document()
    data["spec"]["steps"][0]["source"] += "\nimport os; os.system('curl evil')\n"
    with pytest.raises(BundleError, match="changed after it was exported"):
        parse_bundle(json.dumps(data))


def test_a_changed_notebook_is_refused() -> None:
    data = document()
    data["notebook"]["cells"].append({"cell_type": "code", "metadata": {}, "source": "x"})
    with pytest.raises(BundleError, match="its notebook does not match"):
        parse_bundle(json.dumps(data))


def test_a_spec_renamed_inside_is_refused() -> None:
    data = document()
    data["name"] = "other"
    with pytest.raises(BundleError, match="names must agree"):
        parse_bundle(json.dumps(data))


def test_hash_recomputed_for_a_spec_that_is_not_valid_is_still_refused() -> None:
    data = document()
    data["spec"]["steps"][0]["timeout_seconds"] = -1
    with pytest.raises(BundleError, match="spec is not valid"):
        parse_bundle(json.dumps(data))


def test_size_is_bounded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    text = json.dumps(document())
    monkeypatch.setenv("FLOWAT_BUNDLE_MAX_BYTES", str(len(text) - 1))
    with pytest.raises(BundleError, match="more than the"):
        parse_bundle(text)
    path = tmp_path / "big.flowat"
    path.write_text(text)
    with pytest.raises(BundleError, match="more than the"):
        read_bundle(path)
    monkeypatch.setenv("FLOWAT_BUNDLE_MAX_BYTES", str(len(text)))
    assert parse_bundle(text).name == "shared"


def test_nesting_is_bounded_before_parsing() -> None:
    data = document()
    deep: Any = "x"
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    data["description"] = "fine"
    data["source"]["nested"] = deep
    with pytest.raises(BundleError, match="deeper than"):
        parse_bundle(json.dumps(data))
    # a bracket inside a string is not nesting
    data["source"] = {"text": "[" * 500 + "{" * 500}
    assert parse_bundle(json.dumps(data)).source["text"].startswith("[[[")


def test_far_too_deep_json_is_a_clear_error_not_a_recursion_error() -> None:
    with pytest.raises(BundleError, match="deeper than"):
        parse_bundle("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize(
    "text, message",
    [
        ("not json", "not JSON"),
        ("[]", "no flowat_bundle"),
        ('{"flowat_bundle": "1"}', "must be a format number"),
        ('{"flowat_bundle": true}', "must be a format number"),
        ('{"flowat_bundle": 1}', "not a valid bundle"),
    ],
)
def test_what_is_not_a_bundle_says_so(text: str, message: str) -> None:
    with pytest.raises(BundleError, match=message):
        parse_bundle(text)


def test_tags_are_checked() -> None:
    assert check_tags(["LLM", "llm", "ai"]) == ("llm", "ai")
    with pytest.raises(BundleError, match="tag"):
        check_tags(["no spaces"])


def test_the_notebook_hash_covers_every_field() -> None:
    a = {"cells": [], "metadata": {"a": 1}}
    assert notebook_hash(a) != notebook_hash({"cells": [], "metadata": {"a": 2}})
