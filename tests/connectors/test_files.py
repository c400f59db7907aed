"""The files connector on real folders: formats, modes, atomic writes, and confinement.

Roots come from configuration (``FLOWAT_FILES_ROOTS``), never from the step author; paths
stay beneath their root even while a symbolic link is swapped in concurrently.
"""

from __future__ import annotations

import base64
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_connectors import beneath
from flowat_connectors import files as files_connector
from flowat_connectors.files import connector
from flowat_kernel.compiler import Cell
from flowat_kernel.config import settings
from flowat_kernel.errors import ConfigError
from flowat_kernel.runtime import get_runtime
from flowat_kernel.sdk import ActionError
from flowat_kernel.sdk.registry import get_action
from flowat_kernel.testing import call
from tests.connectors.link_swaps import swapped_folder


@pytest.fixture(params=["openat2", "walk"])
def resolution(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each confinement test runs with openat2 (where the kernel has it) and the walk."""
    if request.param == "walk":
        monkeypatch.setattr(beneath, "use_openat2", False)
    elif not beneath.use_openat2:
        pytest.skip("openat2 is not available here")
    return str(request.param)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder of the configured files root ``data`` (and ``FLOWAT_HOME`` beside it)."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("FLOWAT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FLOWAT_FILES_ROOTS", f"data={folder}")
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
    written = call(connector, "write", root="data", path="sub/f.dat", **content)
    target = root / "sub" / "f.dat"
    assert written.path == str(target)
    assert written.size_bytes == target.stat().st_size == written.written_bytes
    if on_disk is not None:
        assert target.read_bytes() == on_disk
    out = call(connector, "read", path="sub/f.dat", format=read_as)
    assert out.size_bytes == target.stat().st_size
    value = {"text": out.text, "json": out.json_value, "bytes": out.base64}[read_as]
    assert value == field


def test_modes_overwrite_append_and_create(root: Path) -> None:
    common = {"root": "data", "path": "log.txt"}
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
        call(connector, "write", path="e.jsonl", json_value={"n": n}, mode="append")
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
            call(connector, "write", path="big.txt", text=letter * 1_000_000)
    finally:
        stop.set()
        thread.join()
    assert seen == {1}
    assert target.read_text() == "h" * 1_000_000
    assert target.stat().st_mode & 0o777 == 0o640


def test_a_failed_overwrite_leaves_the_old_file_whole(root: Path) -> None:
    (root / "keep.txt").write_text("old")
    error = fail("write", path="keep.txt", text="é", encoding="ascii")
    assert not error.retryable
    assert (root / "keep.txt").read_text() == "old"
    assert [p.name for p in root.iterdir()] == ["keep.txt"]


# -- confinement: roots from configuration ---------------------------------------------


@pytest.mark.parametrize("named", ["/", "/etc", "/run/lock", "..", "~", "./data", "other"])
def test_the_author_cannot_choose_a_folder_as_root(root: Path, named: str) -> None:
    for action, extra in (("read", {}), ("write", {"text": "x"})):
        error = fail(action, root=named, path="shadow", **extra)
        assert not error.retryable
        assert f"root {named!r} is not a configured files root" in str(error)
        assert "the roots are data" in str(error)
    assert not Path("/run/lock/shadow").exists()


def test_the_default_root_is_a_private_data_folder_in_the_home(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLOWAT_FILES_ROOTS", raising=False)
    assert settings().files_roots == (("data", home / "data"),)
    out = call(connector, "write", path="report.txt", text="hello")
    assert out.path == str(home / "data" / "report.txt")
    assert (home / "data").stat().st_mode & 0o077 == 0
    assert call(connector, "read", root="data", path="report.txt").text == "hello"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("all=/", "would expose"),
        ("home={home}", "would expose"),
        ("up={home}/..", "would expose"),
        ("vault={home}/vault", "would expose"),
        ("art={home}/artifacts", "would expose"),
        ("tmp={home}/data/../temporal", "would expose"),
        ("db={db_folder}", "would expose"),
        ("rel=data", "not an absolute path"),
        ("/srv/data", "is not name=/absolute/folder"),
        ("a b=/srv", "is not name=/absolute/folder"),
        ("a=/srv/a,a=/srv/b", "used twice"),
    ],
)
def test_configured_roots_never_expose_flowat_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    home = tmp_path / "home"
    db_folder = tmp_path / "db"
    monkeypatch.setenv("FLOWAT_HOME", str(home))
    monkeypatch.setenv("FLOWAT_DATABASE_URL", f"sqlite:///{db_folder}/store.db")
    monkeypatch.setenv("FLOWAT_FILES_ROOTS", value.format(home=home, db_folder=db_folder))
    with pytest.raises(ConfigError, match=message):
        settings()


def test_a_folder_under_the_home_data_folder_may_be_a_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("FLOWAT_HOME", str(home))
    monkeypatch.setenv("FLOWAT_FILES_ROOTS", f"in={home}/data/in, out = /srv/out ")
    assert settings().files_roots == (("in", home / "data" / "in"), ("out", Path("/srv/out")))


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../outside.txt", "contains '..'"),
        ("a/../../outside.txt", "contains '..'"),
        ("a/../b.txt", "contains '..'"),
        ("/etc/hostname", "is absolute"),
        ("//etc/hostname", "is absolute"),
        (".", "names the root itself"),
        ("./", "names the root itself"),
        ("x\x00y", "NUL"),
    ],
)
def test_paths_leading_out_of_the_root_are_refused(root: Path, path: str, message: str) -> None:
    (root.parent / "outside.txt").write_text("secret")
    for action, extra in (("read", {}), ("write", {"text": "x"})):
        error = fail(action, path=path, **extra)
        assert not error.retryable
        assert message in str(error)
    assert (root.parent / "outside.txt").read_text() == "secret"
    assert not (root.parent / "b.txt").exists()


def test_the_master_key_file_cannot_be_reached(home: Path, resolution: str) -> None:
    flowat.set_secret("api_token", "s3cr3t-value")  # the vault writes its key file
    key_file = home / "vault" / "master-keys.json"
    assert key_file.is_file()
    data = home / "data"
    data.mkdir(exist_ok=True)
    (data / "key.json").symlink_to(key_file)
    (data / "vault").symlink_to(home / "vault", target_is_directory=True)
    (data / "rel").symlink_to("../vault", target_is_directory=True)
    for path in ("../vault/master-keys.json", str(key_file)):
        assert "'..'" in str(fail("read", path=path)) or "absolute" in str(fail("read", path=path))
    for path in ("key.json", "vault/master-keys.json", "rel/master-keys.json"):
        error = fail("read", path=path)
        assert "symbolic link" in str(error)
        assert not error.retryable
    error = fail("write", path="vault/master-keys.json", text="{}")
    assert "symbolic link" in str(error)
    assert key_file.read_text() != "{}"


def test_symbolic_links_are_never_followed(root: Path, resolution: str) -> None:
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "f.txt").write_text("secret")
    (root / "real.txt").write_text("inside")
    (root / "link.txt").symlink_to(outside / "f.txt")
    (root / "alias.txt").symlink_to("real.txt")  # even one that stays inside
    (root / "dir").symlink_to(outside, target_is_directory=True)
    (root / "sub").mkdir()
    (root / "sub" / "up").symlink_to("..", target_is_directory=True)
    paths = ("link.txt", "alias.txt", "dir/f.txt", "dir/new.txt", "sub/up/real.txt")
    for path in paths:
        assert "symbolic link" in str(fail("read", path=path))
        for mode in ("overwrite", "append", "create"):
            error = fail("write", path=path, text="x", mode=mode)
            assert "symbolic link" in str(error), (path, mode)
    assert (outside / "f.txt").read_text() == "secret"
    assert not (outside / "new.txt").exists()
    assert (root / "real.txt").read_text() == "inside"
    assert (root / "link.txt").is_symlink()


def test_writes_stay_inside_their_root(root: Path, tmp_path: Path, resolution: str) -> None:
    other = tmp_path / "other"
    other.mkdir()
    for path in ("../other/x.txt", "/run/lock/x.txt", "a/../../other/x.txt"):
        for mode in ("overwrite", "append", "create"):
            fail("write", path=path, text="x", mode=mode)
    out = call(connector, "write", path="deep/er/x.txt", text="x", mode="create")
    assert out.path == str(root / "deep" / "er" / "x.txt")
    assert list(other.iterdir()) == []
    assert not Path("/run/lock/x.txt").exists()


@pytest.fixture
def swapping(root: Path) -> Iterator[tuple[Path, list[int]]]:
    """``root/sub`` turns into a link to a folder outside and back, until the test ends.

    Yields the outside folder and a one-item list counting the swaps.
    """
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "f.txt").write_text("SECRET")
    (root / "sub").mkdir()
    (root / "sub" / "f.txt").write_text("inside")
    with swapped_folder(root, outside) as swaps:
        yield outside, swaps


@pytest.mark.timeout(120)
def test_a_link_swapped_in_while_reading_never_escapes(
    swapping: tuple[Path, list[int]], resolution: str
) -> None:
    _, swaps = swapping
    seen: dict[str, int] = {}
    reads = 0
    # Bounded: at least 2,000 reads, and until both outcomes were seen (at most 40,000).
    while reads < 40_000 and (reads < 2_000 or len(seen) < 2):
        reads += 1
        try:
            text = call(connector, "read", path="sub/f.txt").text
        except ActionError as exc:
            assert not exc.retryable or "no such file" not in str(exc)
            text = "refused"
        seen[str(text)] = seen.get(str(text), 0) + 1
        assert text != "SECRET", f"read {reads} escaped the root"
    assert swaps[0] > 0
    assert set(seen) == {"inside", "refused"}, seen


@pytest.mark.timeout(120)
def test_a_link_swapped_in_while_writing_never_escapes(
    swapping: tuple[Path, list[int]], resolution: str
) -> None:
    outside, swaps = swapping
    for n in range(1_500):
        mode = ("overwrite", "append", "create")[n % 3]
        with contextlib.suppress(ActionError):
            call(connector, "write", path=f"sub/w{n}.txt", text="x", mode=mode, make_dirs=False)
    assert swaps[0] > 0
    assert sorted(p.name for p in outside.iterdir()) == ["f.txt"]
    assert (outside / "f.txt").read_text() == "SECRET"


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
    error = fail("read", **params)
    assert not error.retryable
    assert message in str(error)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"path": "f", "root": "data", "store": "artifacts", "text": "x"}, "root is for"),
        ({"path": "f"}, "exactly one of"),
        ({"path": "f", "text": "x", "base64": "eA=="}, "exactly one of"),
        ({"path": "f", "text": "x", "mode": "truncate"}, "mode"),
        ({"path": "f", "text": "x", "encoding": "klingon"}, "unknown encoding"),
    ],
)
def test_invalid_write_input(root: Path, params: dict[str, object], message: str) -> None:
    error = fail("write", **params)
    assert not error.retryable
    assert message in str(error)


def test_bad_base64_and_missing_folders(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = fail("write", path="f", base64="not base64!")
    assert "not valid base64" in str(error)
    error = fail("write", path="a/b/f", text="x", make_dirs=False)
    assert "make_dirs" in str(error)
    monkeypatch.setenv("FLOWAT_FILES_ROOTS", f"gone={tmp_path / 'nope'}")
    error = fail("read", root="gone", path="f")
    assert "does not exist" in str(error)
    assert not error.retryable


def test_the_artifact_store(home: Path) -> None:
    out = call(connector, "write", store="artifacts", path="reports/r.json", json_value=[1, 2])
    folder = get_runtime().settings.artifacts_dir / "files"
    assert out.path == str(folder / "reports" / "r.json")
    assert folder.is_relative_to(home)
    read = call(connector, "read", store="artifacts", path="reports/r.json", format="json")
    assert read.json_value == [1, 2]
    assert "contains '..'" in str(fail("read", store="artifacts", path="../../flowat.db"))


def test_declarations() -> None:
    assert get_action("files.read").retry_safe is True
    assert get_action("files.write").retry_safe is False
    params = files_connector.ReadFile(path="x", root="reports")
    assert get_action("files.read").target is not None
    assert get_action("files.read").target(params) == "local:reports"
    assert get_action("files.read").target(files_connector.ReadFile(path="x")) == "local:data"
    names = [a["name"] for a in connector.describe()["actions"]]
    assert names == ["files.read", "files.write"]


def test_write_and_read_steps_in_a_workflow_run(
    temporal: str, workflow_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "wf"
    folder.mkdir()
    monkeypatch.setenv("FLOWAT_FILES_ROOTS", f"reports={folder}")
    flowat.publish(
        workflow_name,
        cells=[
            Cell("where = ''", 1, tags=("parameters",)),
            Cell(
                "%%flowat step save --action files.write\n"
                "root = where\npath = 'out/result.json'\njson_value = {'total': 42}",
                2,
            ),
            Cell(
                "%%flowat step load\n"
                "loaded = flowat.action('files.read', root=where, path='out/result.json',\n"
                "    format='json').json_value\n"
                "written = save['size_bytes']",
                3,
            ),
        ],
    )
    run = flowat.run(workflow_name, parameters={"where": "reports"})
    assert run.status == "succeeded", run.error
    assert run.outputs["load"]["loaded"] == {"total": 42}
    assert run.outputs["load"]["written"] == (folder / "out" / "result.json").stat().st_size
    # The author cannot name a folder of their own choosing instead of a root.
    run = flowat.run(workflow_name, parameters={"where": str(folder)})
    assert run.status == "failed"
    assert "is not a configured files root" in str(run.error)
