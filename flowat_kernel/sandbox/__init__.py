"""Untrusted code steps in a separate, confined process.

| module | job |
| --- | --- |
| ``isolation`` | which OS isolation is available (``unshare`` namespaces), probed once |
| ``limits`` | the rlimits and output limits of one step, and how violations read |
| ``protocol`` | what crosses the boundary: a request in, data (never pickle) out |
| ``launcher`` | the parent side: start, feed, read bounded output, kill, clean up |
| ``launcher_pipes`` | the launcher's pipes and socket pair to the child, each closed once |
| ``launcher_outcome`` | what the child left, read back as exports or the right error |
| ``child`` | the process itself: a supervisor and a worker that runs the code |
| ``confine`` | read-only root, private tmpfs, loopback, the unprivileged uid, rlimits |
| ``egress`` | ``--allow-network``: the worker's proxy, public destinations only |
| ``inside`` | what the code sees as ``flowat``: only the secrets it was given |
| ``step`` | the worker's side: policy, secrets from the vault, paths to hide |
| ``errors`` | ``SandboxError`` (a limit), ``SandboxSecretError`` (an ungranted secret |
| | handle exported) and ``SandboxedCodeError`` (the code raised) |

The package imports nothing heavy: the child imports its modules at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowat_kernel.lazy import lazy_getattr

if TYPE_CHECKING:
    from flowat_kernel.sandbox.errors import SandboxedCodeError, SandboxError, SandboxSecretError
    from flowat_kernel.sandbox.isolation import Isolation, detect_isolation
    from flowat_kernel.sandbox.launcher import run_sandboxed
    from flowat_kernel.sandbox.limits import SandboxLimits
    from flowat_kernel.sandbox.step import run_untrusted, wants_sandbox

__all__ = [
    "Isolation",
    "SandboxError",
    "SandboxLimits",
    "SandboxSecretError",
    "SandboxedCodeError",
    "detect_isolation",
    "run_sandboxed",
    "run_untrusted",
    "wants_sandbox",
]

__getattr__ = lazy_getattr(
    __name__,
    {
        "Isolation": "flowat_kernel.sandbox.isolation",
        "SandboxError": "flowat_kernel.sandbox.errors",
        "SandboxLimits": "flowat_kernel.sandbox.limits",
        "SandboxSecretError": "flowat_kernel.sandbox.errors",
        "SandboxedCodeError": "flowat_kernel.sandbox.errors",
        "detect_isolation": "flowat_kernel.sandbox.isolation",
        "run_sandboxed": "flowat_kernel.sandbox.launcher",
        "run_untrusted": "flowat_kernel.sandbox.step",
        "wants_sandbox": "flowat_kernel.sandbox.step",
    },
    globals(),
)
