"""The parent side: run one step's code in a fresh, confined process and read back data.

:func:`run_sandboxed` starts ``python -m flowat_kernel.sandbox.child`` (under
``unshare`` when namespaces are available; see :mod:`flowat_kernel.sandbox.isolation`)
with an empty environment, sends it the request on stdin, and reads three pipes at
once: the step's stdout and stderr (bounded), its result (bounded, data only) and the
supervisor's status. It kills the whole process group at the wall-clock limit, on a
violation, and when the calling thread is interrupted (a step cancelled by Temporal
raises ``CancelledError`` in it), and always removes the temporary directory.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from flowat_kernel.engine.executor import ExecutionResult
from flowat_kernel.sandbox import protocol
from flowat_kernel.sandbox.egress import EgressPolicy, proxy_environment
from flowat_kernel.sandbox.errors import SandboxError
from flowat_kernel.sandbox.isolation import Isolation, detect_isolation, minimal_environment
from flowat_kernel.sandbox.launcher_outcome import _granted_secrets, _outcome
from flowat_kernel.sandbox.launcher_pipes import _Gateway, _kill, _Pipes, _write_all
from flowat_kernel.sandbox.limits import SandboxLimits
from flowat_kernel.spec import StepSpec
from flowat_kernel.vault.redaction import redact_text, register

__all__ = ["LOG_LIMIT", "isolation_line", "run_sandboxed"]

#: Captured output kept in the step's record (more is cut, up to the output limit).
LOG_LIMIT = 64 * 1024
#: How long past the wall-clock limit the parent waits for the child's own kill.
_GRACE_SECONDS = 3.0
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
# The child imports only the sandbox's light modules: a stand-in for the package
# keeps ``flowat_kernel/__init__`` (and IPython, which it imports) out of its start-up.
_BOOT = (
    "import sys,types;p=types.ModuleType('flowat_kernel');p.__path__=[{root!r}+'/flowat_kernel'];"
    "sys.modules['flowat_kernel']=p;from flowat_kernel.sandbox.child import main;"
    "main(sys.argv[1:])"
)


def _needed_paths() -> list[str]:
    """Installations the child needs to reach: Python, its site-packages, FlowAt."""
    paths = {sys.base_prefix, sys.prefix, sys.exec_prefix, _PACKAGE_ROOT}
    paths.update(site.getsitepackages())
    paths.update(v for k, v in sysconfig.get_paths().items() if k in ("stdlib", "platstdlib"))
    return sorted(p for p in paths if os.path.isdir(p))


def _reachable_by_others(paths: Iterable[str]) -> str:
    """The first folder on the way to ``paths`` that other uids cannot enter ("": none)."""
    for raw in paths:
        path = Path(raw).resolve()
        for folder in [*reversed(path.parents), path]:
            if not folder.stat().st_mode & 0o001:
                return str(folder)
    return ""


def isolation_line(
    isolation: Isolation,
    namespaces: bool,
    network: bool,
    uid: int | None,
    limits: SandboxLimits,
    timeout: float,
) -> str:
    """The first line of a sandboxed step's log: what isolation was in force."""
    return (
        f"[sandbox] isolation: {isolation.describe(namespaces, network, uid)}; "
        f"{limits.describe()}; wall clock {timeout:g}s"
    )


def _encode_inputs(step: str, inputs: Mapping[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
    from flowat_kernel.vault.handles import SecretHandle

    entries: dict[str, Any] = {}
    blobs: list[bytes] = []
    for name, value in inputs.items():
        if isinstance(value, SecretHandle):
            entries[name] = {"secret": value.name}
        elif protocol.is_plain_json(value):
            entries[name] = {"json": value}
        else:
            import cloudpickle

            try:
                blobs.append(cloudpickle.dumps(value))
            except Exception as exc:
                raise SandboxError(
                    step,
                    "inputs",
                    f"input {name!r} ({type(value).__name__}) cannot be passed into the "
                    f"sandbox: {type(exc).__name__}: {exc}",
                ) from None
            entries[name] = {"pickle": len(blobs) - 1}
    return entries, blobs


def _cut(text: str) -> str:
    if len(text) <= LOG_LIMIT:
        return text
    return text[:LOG_LIMIT] + "\n[output truncated]\n"


def run_sandboxed(
    step: StepSpec,
    inputs: Mapping[str, Any],
    *,
    secrets: Mapping[str, str] | None = None,
    limits: SandboxLimits | None = None,
    timeout: float | None = None,
    hidden: Iterable[str | os.PathLike[str]] = (),
    context: Mapping[str, Any] | None = None,
    isolation: str = "auto",
    uid: int = 65534,
    egress: EgressPolicy | None = None,
) -> ExecutionResult:
    """Run ``step``'s prelude and code in a new confined process; return its exports.

    Args:
        step: the step (its ``allow_network`` decides the network namespace).
        inputs: values of the names it reads (the parent's own data).
        secrets: values of the secrets the code may reveal, by name; they are
            registered for masking here.
        limits: resource limits (defaults: :class:`SandboxLimits`).
        timeout: wall-clock limit in seconds (default: the step's ``timeout_seconds``).
        hidden: paths the code must not see (``FLOWAT_HOME``, the metadata database).
        context: ``run_id``, ``workflow``, ``attempt``, ``owner`` for
            ``flowat.current_step()`` inside.
        isolation: ``auto`` (namespaces if available), ``namespaces`` (required) or
            ``rlimits`` (no namespaces).
        uid: the unprivileged uid the code runs as when this process is root.
        egress: with ``allow_network`` under namespaces, which destinations the
            sandbox's proxy may connect to (default:
            :func:`~flowat_kernel.sandbox.egress.public_only`).

    Returns:
        The exports (JSON values, data frames, numpy arrays, bytes, and handles on
        secrets the step was granted with ``--secret`` or received as inputs),
        the captured output (first line: the isolation in force; masked), and the
        exports that could not leave the sandbox, with the reason.

    Raises:
        SandboxedCodeError: the code raised (type, message, cell line, traceback).
        SandboxError: a limit was hit, or the sandbox could not run the code.
        SandboxSecretError: the code exported a handle on a secret it was not granted.

    """
    limits = limits or SandboxLimits()
    timeout = float(timeout if timeout is not None else step.timeout_seconds)
    secrets = dict(secrets or {})
    for name, value in secrets.items():
        register(name, value)
    found = detect_isolation()
    if isolation == "namespaces" and not found.namespaces:
        raise SandboxError(
            step.name,
            "isolation",
            f"namespaces are required (FLOWAT_SANDBOX_ISOLATION=namespaces) but not "
            f"available: {found.reason}",
        )
    namespaces = found.namespaces and isolation != "rlimits"
    run_as = uid if found.root else None
    needed = _needed_paths()
    if run_as is not None and not namespaces:
        blocked = _reachable_by_others(needed)
        if blocked:
            raise SandboxError(
                step.name,
                "isolation",
                f"without namespaces ({found.reason or 'FLOWAT_SANDBOX_ISOLATION=rlimits'}) "
                f"untrusted code must run as uid {run_as}, which cannot enter {blocked} to "
                f"reach Python; make it enterable (chmod o+x {blocked}) or allow namespaces",
            )
    header_line = isolation_line(found, namespaces, step.allow_network, run_as, limits, timeout)
    entries, blobs = _encode_inputs(step.name, inputs)
    granted = _granted_secrets(step, secrets, inputs)
    gateway = _Gateway() if namespaces and step.allow_network else None
    workdir = tempfile.mkdtemp(prefix="flowat-sandbox-")
    plan = {
        "namespaces": namespaces,
        "uid": run_as,
        "hide": [str(Path(p).resolve()) for p in hidden],
        "needed": needed,
        "workdir": workdir,
        "timeout": timeout,
        "gateway_fd": gateway.child_fd if gateway is not None else None,
    }
    request = protocol.pack(
        {
            "step": step.name,
            "source": step.source,
            "prelude": list(step.prelude),
            "exports": list(step.exports),
            "inputs": entries,
            "secrets": secrets,
            "context": dict(context or {}),
            "limits": limits.as_dict(),
            "isolation": plan,
        },
        blobs,
    )
    del blobs
    pipes = _Pipes(
        {"output": limits.output_bytes, "result": limits.exports_bytes + (4 << 20), "status": 4096}
    )
    command = [
        *(found.command() if namespaces else []),
        sys.executable,
        "-I",
        "-u",
        "-B",
        "-c",
        _BOOT.format(root=_PACKAGE_ROOT),
        str(pipes.child_end("result")),
        str(pipes.child_end("status")),
    ]
    home = "/tmp" if namespaces else workdir
    environment = minimal_environment(home)
    passed = [pipes.child_end("result"), pipes.child_end("status")]
    if gateway is not None:
        environment.update(proxy_environment())
        passed.append(gateway.child_fd)
    process: subprocess.Popen[bytes] | None = None
    try:
        if run_as is not None:
            os.chown(workdir, run_as, run_as)
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=pipes.child_end("output"),
            stderr=pipes.child_end("output"),
            pass_fds=passed,
            env=environment,
            cwd=workdir,
            start_new_session=True,
        )
        pipes.close_child_ends()
        if gateway is not None:
            gateway.start(time.monotonic() + timeout + _GRACE_SECONDS, egress)
        assert process.stdin is not None
        writer = threading.Thread(
            target=_write_all, args=(process.stdin, request), name="flowat-sandbox-input"
        )
        writer.daemon = True
        writer.start()
        del request
        over = pipes.read_until_closed(time.monotonic() + timeout + _GRACE_SECONDS)
        if over is not None:
            _kill(process)
        else:
            process.wait()
    finally:
        if process is not None and process.returncode is None:
            _kill(process)  # cancelled (or failed) while waiting: nothing may outlive us
        pipes.close()
        if gateway is not None:
            gateway.close()
        shutil.rmtree(workdir, ignore_errors=True)
    output = pipes.data["output"][: limits.output_bytes].decode("utf-8", errors="replace")
    logs = redact_text(header_line + "\n" + _cut(output))
    return _outcome(step, over, pipes.data, logs, limits, timeout, process.returncode, granted)
