"""Which OS isolation this machine offers sandboxed steps, detected once per process.

Namespaces come from util-linux's ``unshare``: new PID, mount and network namespaces
for every step, ``--allow-network`` or not (and a user namespace when FlowAt does not
run as root). Without them the floor is
rlimits, an unprivileged uid when running as root, and an empty environment. The
probe runs ``unshare ... true`` once (a few milliseconds) and is cached.

Bubblewrap is noted when installed but not used: ``unshare`` gives the same
namespaces, and one mechanism is easier to reason about.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass

__all__ = ["Isolation", "detect_isolation", "minimal_environment"]


def minimal_environment(home: str) -> dict[str, str]:
    """All the environment sandboxed code gets: a short PATH, a UTF-8 locale, its home."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": home,
        "TMPDIR": home,
    }


@dataclass(frozen=True)
class Isolation:
    """What isolation is available.

    Attributes:
        namespaces: ``unshare`` can give a step its own PID, mount and network namespaces.
        root: FlowAt runs as root (steps then run as an unprivileged uid).
        unshare: path of the ``unshare`` binary, if found.
        bubblewrap: path of ``bwrap``, if installed (noted, not used).
        reason: why namespaces are unavailable (empty when they are).

    """

    namespaces: bool
    root: bool
    unshare: str | None
    bubblewrap: str | None = None
    reason: str = ""

    def command(self) -> list[str]:
        """The ``unshare`` prefix for one step (empty without namespaces).

        Every step gets its own network namespace, ``--allow-network`` or not: outbound
        access goes through the worker's egress proxy (:mod:`flowat_kernel.sandbox.egress`).
        """
        if not self.namespaces or self.unshare is None:
            return []
        flags = ["--pid", "--fork", "--mount", "--mount-proc", "--kill-child", "--net"]
        if not self.root:
            flags += ["--user", "--map-root-user"]
        return [self.unshare, *flags, "--"]

    def describe(self, namespaces: bool, network: bool, uid: int | None) -> str:
        """How a step runs, for its log: namespaces, uid, network, what is hidden."""
        who = f"uid {uid}" if uid is not None else f"uid {os.getuid()} (the worker's own user)"
        if namespaces:
            kinds = ["pid", "net", "mount"]
            if not self.root:
                kinds.insert(0, "user")
            net = (
                "; outbound network through the egress proxy, public addresses only"
                if network
                else ""
            )
            return (
                f"{'+'.join(kinds)} namespaces (unshare{net}), {who}, "
                "FLOWAT_HOME hidden, root read-only, private /tmp /var/tmp /dev/shm /run"
            )
        why = f" ({self.reason})" if self.reason else ""
        home = (
            "FLOWAT_HOME protected by file permissions only"
            if uid is not None
            else "FLOWAT_HOME NOT hidden"
        )
        return f"NO namespaces{why}, rlimits only, {who}, network NOT isolated, {home}"


def _probe(unshare: str, root: bool) -> str:
    """Empty if ``unshare`` works here, else why not."""
    probe = Isolation(namespaces=True, root=root, unshare=unshare).command()
    try:
        done = subprocess.run(
            [*probe, "true"],
            env=minimal_environment("/"),
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare failed: {exc}"
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        return f"unshare failed: {detail[-1] if detail else f'exit status {done.returncode}'}"
    return ""


@functools.cache
def detect_isolation() -> Isolation:
    """The isolation available to this process (probed once, then cached)."""
    root = os.geteuid() == 0
    unshare = shutil.which("unshare") or next(
        (p for p in ("/usr/bin/unshare", "/bin/unshare") if os.path.exists(p)), None
    )
    bubblewrap = shutil.which("bwrap")
    if unshare is None:
        return Isolation(False, root, None, bubblewrap, "util-linux unshare is not installed")
    reason = _probe(unshare, root)
    return Isolation(not reason, root, unshare, bubblewrap, reason)
