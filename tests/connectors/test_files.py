"""The files connector on real folders: formats, modes, atomic writes, escapes refused."""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_connectors import files as files_connector
from flowat_connectors.files import connector
from flowat_kernel.compiler import Cell
from flowat_kernel.runtime import get_runtime
from flowat_kernel.sdk import ActionError
from flowat_kernel.sdk.registry import get_action
from flowat_kernel.testing import call


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


def fail(action: str, **params: object) -> ActionError:
    with pytest.raises(ActionError) as caught:
        call(connector, action, **params)
    return caught.value


@pytest.mark.parametrize(
    ("content", "read_as", "field", "on_disk"),
    [
        ({"text": "héllo\n"}, "text", "héllo\n", "héllo\n".encode()),
        ({"json_value": {"a": [1, None]}}, "json", {"a": [1, None]}, None),
        ({"json_value": None}, "json", None, b"null\n"),
        (
            {"base64": base64.b64encode(b"\x00\xff").decode()},
            "bytes",
            base64.b64encode(b"\x00\xff").decode(),
            b"\x00\xff",
        ),
    ],
    ids=["text", "json", "json-null", "bytes"],
)
def test_write_then_read_each_format(
    root: Path, content: dict[str, object], read_as: str, field: object, on_disk: bytes | None
) -> None:
    written = call(connector, "write", root=str(root), path="sub/f.dat", **content)
    target = root / "sub" / "f.dat"
    assert written.path == str(target)
    assert written.size_bytes == target.stat().st_size == written.written_bytes
    if on_disk is not None:
        assert target.read_bytes() == on_disk
    out = call(connector, "read", root=str(root), path="sub/f.dat", format=read_as)
    assert out.size_bytes == target.stat().st_size
    value = {"text": out.text, "json": out.json_value, "bytes": out.base64}[read_as]
    assert value == field


def test_modes_overwrite_append_and_create(root: Path) -> None:
    common = {"root": str(root), "path": "log.txt"}
    call(connector, "write", text="one\n", mode="create", **common)
    error = fail("write", text="again\n", mode="create", **common)
    assert not error.retryable
    assert "exists" in str(error)
    call(connector, "write", text="two\n", mode="append", **common)
    assert (root / "log.txt").read_text() == "one\ntwo\n"
    out = call(connector, "write", text="new\n", mode="overwrite", **common)
    assert (root / "log.txt").read_text() == "new\n"
    assert out.size_bytes == 4
    assert [p.name for p in root.iterdir()] == ["log.txt"]  # no temporary left behind


def test_json_appends_as_json_lines(root: Path) -> None:
    for n in (1, 2):
        call(connector, "write", root=str(root), path="e.jsonl", json_value={"n": n}, mode="append")
    assert (root / "e.jsonl").read_text() == '{"n": 1}\n{"n": 2}\n'


def test_overwrite_is_atomic_and_keeps_the_file_mode(root: Path) -> None:
    target = root / "big.txt"
    target.write_text("a" * 1_000_000)
    target.chmod(0o640)
    stop = threading.Event()
    seen: set[int] = set()

    def reader() -> None:
        while not stop.is_set():
            seen.add(len(set(target.read_text())))  # 1: all one letter, 2: torn

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for letter in "bcdefgh":
            call(connector, "write", root=str(root), path="big.txt", text=letter * 1_000_000)
    finally:
        stop.set()
        thread.join()
    assert seen == {1}
    assert target.read_text() == "h" * 1_000_000
    assert target.stat().st_mode & 0o777 == 0o640


def test_a_failed_overwrite_leaves_the_old_file_whole(root: Path) -> None:
    (root / "keep.txt").write_text("old")
    error = fail("write", root=str(root), path="keep.txt", text="é", encoding="ascii")
    assert not error.retryable
    assert (root / "keep.txt").read_text() == "old"
    assert [p.name for p in root.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(
    "path", ["../outside.txt", "a/../../outside.txt", "/etc/hostname", ".", "a/.."]
)
def test_paths_leading_out_of_the_root_are_refused(root: Path, path: str) -> None:
    (root.parent / "outside.txt").write_text("secret")
    for action, extra in (("read", {}), ("write", {"text": "x"})):
        error = fail(action, root=str(root), path=path, **extra)
        assert not error.retryable
        assert "leads out of" in str(error)
    assert (root.parent / "outside.txt").read_text() == "secret"


def test_symlinks_leading_out_of_the_root_are_refused(root: Path) -> None:
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "f.txt").write_text("secret")
    (root / "link.txt").symlink_to(outside / "f.txt")
    (root / "dir").symlink_to(outside, target_is_directory=True)
    for path in ("link.txt", "dir/f.txt", "dir/new.txt"):
        assert "leads out of" in str(fail("read", root=str(root), path=path))
        assert "leads out of" in str(fail("write", root=str(root), path=path, text="x"))
    assert (outside / "f.txt").read_text() == "secret"
    assert not (outside / "new.txt").exists()


def test_symlinks_inside_the_root_are_followed(root: Path) -> None:
    (root / "real.txt").write_text("inside")
    (root / "alias.txt").symlink_to(root / "real.txt")
    assert call(connector, "read", root=str(root), path="alias.txt").text == "inside"
    call(connector, "write", root=str(root), path="alias.txt", text="changed")
    assert (root / "real.txt").read_text() == "changed"
    assert (root / "alias.txt").is_symlink()


@pytest.mark.parametrize(
    ("setup", "params", "message"),
    [
        (None, {"path": "missing.txt"}, "no such file"),
        ("dir", {"path": "d"}, "folder"),
        ("latin", {"path": "f"}, "format='bytes'"),
        ("badjson", {"path": "f", "format": "json"}, "not valid JSON"),
        ("big", {"path": "f", "max_bytes": 10}, "max_bytes=10"),
    ],
)
def test_read_errors_are_clear_and_not_retryable(
    root: Path, setup: str | None, params: dict[str, object], message: str
) -> None:
    if setup == "dir":
        (root / "d").mkdir()
    elif setup == "latin":
        (root / "f").write_bytes("é".encode("latin-1"))
    elif setup == "badjson":
        (root / "f").write_text("{oops")
    elif setup == "big":
        (root / "f").write_text("x" * 11)
    error = fail("read", root=str(root), **params)
    assert not error.retryable
    assert message in str(error)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"path": "f", "text": "x"}, "give root"),
        ({"path": "f", "root": "/tmp", "store": "artifacts", "text": "x"}, "root is for"),
        ({"path": "f", "root": "/tmp"}, "exactly one of"),
        ({"path": "f", "root": "/tmp", "text": "x", "base64": "eA=="}, "exactly one of"),
        ({"path": "f", "root": "/tmp", "text": "x", "mode": "truncate"}, "mode"),
        ({"path": "f", "root": "/tmp", "text": "x", "encoding": "klingon"}, "unknown encoding"),
    ],
)
def test_invalid_write_input(params: dict[str, object], message: str) -> None:
    error = fail("write", **params)
    assert not error.retryable
    assert message in str(error)


def test_bad_base64_and_missing_folders(root: Path, tmp_path: Path) -> None:
    error = fail("write", root=str(root), path="f", base64="not base64!")
    assert "not valid base64" in str(error)
    error = fail("write", root=str(root), path="a/b/f", text="x", make_dirs=False)
    assert "make_dirs" in str(error)
    error = fail("read", root=str(tmp_path / "nope"), path="f")
    assert "is not a folder" in str(error)
    assert not error.retryable


def test_the_artifact_store(home: Path) -> None:
    out = call(connector, "write", store="artifacts", path="reports/r.json", json_value=[1, 2])
    folder = get_runtime().settings.artifacts_dir / "files"
    assert out.path == str(folder / "reports" / "r.json")
    assert folder.is_relative_to(home)
    read = call(connector, "read", store="artifacts", path="reports/r.json", format="json")
    assert read.json_value == [1, 2]
    assert "leads out of" in str(fail("read", store="artifacts", path="../../flowat.db"))


def test_declarations() -> None:
    assert get_action("files.read").retry_safe is True
    assert get_action("files.write").retry_safe is False
    params = files_connector.ReadFile(path="x", root="/srv/data")
    assert get_action("files.read").target is not None
    assert get_action("files.read").target(params) == "local:/srv/data"
    names = [a["name"] for a in connector.describe()["actions"]]
    assert names == ["files.read", "files.write"]


def test_write_and_read_steps_in_a_workflow_run(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    folder = tmp_path / "wf"
    folder.mkdir()
    flowat.publish(
        workflow_name,
        cells=[
            Cell("folder = ''", 1, tags=("parameters",)),
            Cell(
                "%%flowat step save --action files.write\n"
                "root = folder\npath = 'out/result.json'\njson_value = {'total': 42}",
                2,
            ),
            Cell(
                "%%flowat step load\n"
                "loaded = flowat.action('files.read', root=folder, path='out/result.json',\n"
                "    format='json').json_value\n"
                "written = save['size_bytes']",
                3,
            ),
        ],
    )
    run = flowat.run(workflow_name, parameters={"folder": str(folder)})
    assert run.status == "succeeded", run.error
    assert run.outputs["load"]["loaded"] == {"total": 42}
    assert run.outputs["load"]["written"] == (folder / "out" / "result.json").stat().st_size
