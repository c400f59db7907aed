"""Secrets in a real Jupyter kernel: asked for over stdin, masked in all output, never saved.

The kernels are real ipykernels started through jupyter_client with this venv's Python,
each with its own FLOWAT_HOME (SQLite store and master-key file) and no
FLOWAT_MASTER_KEY, so the key file is used. No Temporal server is needed: step cells
run in the kernel, and the vault only uses the store and the key file.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import queue
import re
import secrets
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

import flowat_kernel as flowat
from flowat_kernel.runtime import reset_runtime

MASK = "[secret:api]"
OUTPUT_TYPES = frozenset({"stream", "execute_result", "display_data", "error"})
TIMEOUT = 60.0
ANSI = re.compile(r"\x1b\[[0-9;]*m")

STEP_CELL = """\
%%flowat step fetch
token = flowat.secret("api").reveal()
print(token)
import sys; print(token, file=sys.stderr)
import logging; logging.getLogger("x").warning("tok %s", token)
display(token)
{"t": token}"""


def new_canary() -> str:
    return f"sk-canary-{secrets.token_hex(16)}"


def kernel_env(home: Path, ipython_dir: Path) -> dict[str, str]:
    """This process's environment without FlowAt settings, with a FLOWAT_HOME of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWAT_")}
    env["FLOWAT_HOME"] = str(home)
    env["IPYTHONDIR"] = str(ipython_dir)  # keep the kernel's input history out of ~/.ipython
    return env


def files_holding(folder: Path, needle: str) -> list[Path]:
    """Every file under ``folder`` whose bytes contain ``needle``."""
    data = needle.encode()
    return [p for p in sorted(folder.rglob("*")) if p.is_file() and data in p.read_bytes()]


def output_texts(message: dict[str, Any]) -> list[str]:
    """The text a frontend shows for one iopub output message."""
    content = message["content"]
    kind = message["msg_type"]
    if kind == "stream":
        return [content["text"]]
    if kind == "error":
        return [content["ename"], content["evalue"], *content["traceback"]]
    return [
        value if isinstance(value, str) else json.dumps(value) for value in content["data"].values()
    ]


@dataclass
class Execution:
    """What one execute request produced."""

    code: str
    messages: list[dict[str, Any]]  # iopub messages whose parent is the request
    input_requests: list[dict[str, Any]]
    reply: dict[str, Any]

    @property
    def outputs(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["msg_type"] in OUTPUT_TYPES]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m["content"] for m in self.outputs if m["msg_type"] == kind]

    def stream(self, name: str) -> str:
        return "".join(c["text"] for c in self.of_type("stream") if c["name"] == name)

    def texts(self) -> list[str]:
        return [text for message in self.outputs for text in output_texts(message)]

    def result(self) -> str:
        (result,) = self.of_type("execute_result")
        text: str = result["data"]["text/plain"]
        return text


class Kernel:
    """A real ipykernel and a blocking client on all its channels."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env, cwd=str(cwd))
        try:
            self.client = self.manager.client()
            self.client.start_channels()
            self.client.wait_for_ready(timeout=TIMEOUT)
        except BaseException:
            self.manager.shutdown_kernel(now=True)
            raise

    def run(self, code: str, answers: tuple[str, ...] = ()) -> Execution:
        """Execute ``code``, answering input requests with ``answers`` (then with "")."""
        pending = list(answers)
        msg_id = self.client.execute(code, allow_stdin=True)
        messages: list[dict[str, Any]] = []
        requests: list[dict[str, Any]] = []
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert time.monotonic() < deadline, f"no idle status within {TIMEOUT}s for {code!r}"
            try:
                request = self.client.get_stdin_msg(timeout=0.02)
            except queue.Empty:
                pass
            else:
                requests.append(request)
                self.client.input(pending.pop(0) if pending else "")
            try:
                message = self.client.get_iopub_msg(timeout=0.02)
            except queue.Empty:
                continue
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            messages.append(message)
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                break
        while True:
            reply = self.client.get_shell_msg(timeout=TIMEOUT)
            if reply["parent_header"].get("msg_id") == msg_id:
                return Execution(code, messages, requests, reply)

    def ok(self, code: str) -> Execution:
        """Execute ``code`` and check it succeeded."""
        execution = self.run(code)
        assert execution.reply["content"]["status"] == "ok", (code, execution.texts())
        return execution

    def evaluate(self, expression: str) -> Any:
        """The value of a literal-valued ``expression`` in the kernel."""
        return ast.literal_eval(self.ok(expression).result())

    def close(self) -> None:
        try:
            self.client.stop_channels()
        finally:
            self.manager.shutdown_kernel(now=True)


@dataclass
class VaultKernel:
    """A kernel with the extension loaded and the secret ``api`` set over stdin."""

    kernel: Kernel
    home: Path
    canary: str
    set_secret: Execution


@pytest.fixture(scope="module")
def vault_kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultKernel]:
    home = tmp_path_factory.mktemp("vault-kernel-home")
    env = kernel_env(home, tmp_path_factory.mktemp("vault-kernel-ipython"))
    kernel = Kernel(env, cwd=tmp_path_factory.mktemp("vault-kernel-cwd"))
    try:
        # The kernel really is this venv's Python, with its own FLOWAT_HOME.
        assert kernel.evaluate("__import__('sys').prefix") == sys.prefix
        assert kernel.evaluate("__import__('os').environ['FLOWAT_HOME']") == str(home)
        assert kernel.evaluate("'FLOWAT_MASTER_KEY' in __import__('os').environ") is False
        kernel.ok("%load_ext flowat_kernel")
        canary = new_canary()
        yield VaultKernel(kernel, home, canary, kernel.run("%flowat secret set api", (canary,)))
    finally:
        kernel.close()


def test_secret_set_asks_over_stdin_with_password_and_never_echoes(
    vault_kernel: VaultKernel,
) -> None:
    kernel, canary, execution = vault_kernel.kernel, vault_kernel.canary, vault_kernel.set_secret
    assert execution.reply["content"]["status"] == "ok", execution.texts()
    (request,) = execution.input_requests
    assert request["content"]["password"] is True
    assert "api" in request["content"]["prompt"]
    assert "secret api: stored" in execution.stream("stdout")
    for message in execution.messages:
        assert canary not in json.dumps(message, default=str), message["msg_type"]

    listing = kernel.ok("%flowat secret list")
    html_and_text = listing.of_type("execute_result")[0]["data"]
    assert "api" in html_and_text["text/plain"] and "api" in html_and_text["text/html"]
    names, fields = kernel.evaluate(
        "[i.name for i in flowat.list_secrets()], sorted(flowat.list_secrets()[0].as_dict())"
    )
    assert names == ["api"]
    assert not [f for f in fields if "value" in f]
    for message in listing.messages + kernel.ok("flowat.list_secrets()").messages:
        assert canary not in json.dumps(message, default=str)

    # Sealed in SQLite under FLOWAT_HOME with the 0600 key file; the value nowhere in clear.
    key_file = vault_kernel.home / "vault" / "master-keys.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (vault_kernel.home / "flowat.db").is_file()
    assert files_holding(vault_kernel.home, canary) == []


def test_revealed_value_is_masked_in_every_output_but_intact(vault_kernel: VaultKernel) -> None:
    kernel, canary = vault_kernel.kernel, vault_kernel.canary
    step = kernel.ok(STEP_CELL)
    for message in step.messages:
        assert canary not in json.dumps(message, default=str), message["msg_type"]
    assert step.stream("stdout") == f"{MASK}\n"
    assert f"{MASK}\n" in step.stream("stderr")
    assert f"tok {MASK}" in step.stream("stderr")  # the logging record
    (shown,) = step.of_type("display_data")
    assert shown["data"]["text/plain"] == repr(MASK)
    assert step.result() == repr({"t": MASK})
    kinds = {m["msg_type"] for m in step.outputs}
    assert kinds == {"stream", "display_data", "execute_result"}

    # Only the shown copy is masked: the value in the kernel is the real one. (The code
    # holds the canary, so only the outputs of this cell are checked, not its echo.)
    check = kernel.ok(f"len(token), token == {canary!r}, type(token).__name__")
    assert all(canary not in text for text in check.texts())
    assert ast.literal_eval(check.result()) == (len(canary), True, "str")


@pytest.mark.parametrize(
    ("raising", "ename", "evalue"),
    [
        ("raise ValueError(token)", "ValueError", MASK),
        ('raise RuntimeError("x" + token)', "RuntimeError", f"x{MASK}"),
    ],
)
def test_errors_mention_the_secret_only_masked(
    vault_kernel: VaultKernel, raising: str, ename: str, evalue: str
) -> None:
    kernel, canary = vault_kernel.kernel, vault_kernel.canary
    failed = kernel.run(f'token = flowat.secret("api").reveal()\n{raising}')
    assert failed.reply["content"]["status"] == "error"
    (error,) = failed.of_type("error")
    assert (error["ename"], error["evalue"]) == (ename, evalue)
    lines = [ANSI.sub("", line) for line in error["traceback"]]
    assert lines[-1] == f"{ename}: {evalue}"
    assert f"----> 2 {raising}" in "".join(lines)  # the real traceback, source line and all
    assert all(canary not in line for line in error["traceback"] + lines)
    for message in failed.messages:
        assert canary not in json.dumps(message, default=str), message["msg_type"]
    assert all(canary not in line for line in failed.reply["content"]["traceback"])


def test_execute_reply_of_a_failing_cell_is_masked(vault_kernel: VaultKernel) -> None:
    failed = vault_kernel.kernel.run('raise ValueError(flowat.secret("api").reveal())')
    assert failed.reply["content"]["status"] == "error"
    assert failed.reply["content"]["ename"] == "ValueError"
    assert failed.reply["content"]["evalue"] == "[secret:api]"
    assert vault_kernel.canary not in json.dumps(failed.reply["content"], default=str)


def test_value_on_the_magic_line_is_refused(vault_kernel: VaultKernel) -> None:
    kernel = vault_kernel.kernel
    refused = kernel.run("%flowat secret set api sk-value-typed-inline")
    assert refused.reply["content"]["status"] == "error"
    assert refused.input_requests == []
    message = refused.stream("stderr")
    assert message.startswith("UsageError: usage: %flowat secret set NAME")
    assert "the value is asked for" in message
    assert "sk-value-typed-inline" not in message
    assert "Traceback" not in "".join(refused.texts())
    # The stored secret is untouched.
    digest = hashlib.sha256(vault_kernel.canary.encode()).hexdigest()
    assert (
        kernel.evaluate(
            "__import__('hashlib').sha256(flowat.secret('api').reveal().encode()).hexdigest()"
        )
        == digest
    )
    assert kernel.evaluate("[(i.name, i.version) for i in flowat.list_secrets()]") == [("api", 1)]


def test_executed_notebook_and_flowat_home_hold_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, workdir = tmp_path / "home", tmp_path / "work"
    workdir.mkdir()
    for name, value in kernel_env(home, tmp_path / "ipython").items():
        monkeypatch.setenv(name, value)
    for name in [n for n in os.environ if n.startswith("FLOWAT_") and n != "FLOWAT_HOME"]:
        monkeypatch.delenv(name)
    canary = new_canary()
    reset_runtime()
    try:
        info = flowat.set_secret("api", canary)
    finally:
        reset_runtime()
    assert (info.name, info.version) == ("api", 1)
    assert (home / "vault" / "master-keys.json").is_file()

    cells = [
        new_code_cell("%load_ext flowat_kernel"),
        new_code_cell(STEP_CELL),
        new_code_cell("len(token)"),
        new_code_cell("raise ValueError(token)", metadata={"tags": ["raises-exception"]}),
    ]
    notebook = new_notebook(cells=cells)
    NotebookClient(
        notebook,
        timeout=int(TIMEOUT),
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    ).execute()
    path = workdir / "executed.ipynb"
    nbformat.write(notebook, path)

    saved = path.read_bytes()
    assert canary.encode() not in saved
    assert MASK.encode() in saved
    step = nbformat.read(path, as_version=4).cells[1].outputs
    streams = {o["name"]: o["text"] for o in step if o["output_type"] == "stream"}
    assert streams["stdout"] == f"{MASK}\n"
    assert f"tok {MASK}" in streams["stderr"]
    shown = [o["data"]["text/plain"] for o in step if o["output_type"] != "stream"]
    assert shown == [repr(MASK), repr({"t": MASK})]
    assert notebook.cells[2].outputs[0]["data"]["text/plain"] == str(len(canary))
    (error,) = notebook.cells[3].outputs
    assert (error["ename"], error["evalue"]) == ("ValueError", MASK)
    assert files_holding(home, canary) == []
    assert files_holding(tmp_path, canary) == []
