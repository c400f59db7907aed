"""Confining the child: mounts in its own mount namespace, an unprivileged uid, rlimits.

Runs inside the child, before any step code. Everything here is Linux-specific and
uses only the standard library (``mount(2)`` and ``prctl(2)`` through ctypes).

The mounts (only under namespaces, as root in the new mount namespace):

- every mount the child inherited is remounted read-only (keeping its ``nosuid``,
  ``nodev``, ``noexec`` and access-time flags): the root filesystem and everything
  on it are read-only, whatever the permissions of a folder say;
- each hidden path (``FLOWAT_HOME``, a SQLite database outside it) is covered by an
  empty read-only tmpfs (a file: by ``/dev/null``);
- ``/tmp``, ``/var/tmp``, ``/dev/shm``, ``/run`` and ``/run/lock`` become fresh
  private tmpfs of the file-size limit (the only writable places), so the step's
  scratch files are bounded, invisible to other sandboxes and vanish with the
  namespace; the Unix sockets of the host's services under ``/run`` and ``/tmp``
  are out of sight;
- a folder the unprivileged uid cannot enter but that holds Python or FlowAt (a
  pyenv under ``/root``, say) is covered by an empty tmpfs into which only those
  installations are bound back: the rest of that folder stays out of sight.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import re
import resource
import socket
import stat
import struct
from collections.abc import Iterable
from pathlib import Path

from flowat_kernel.sandbox.limits import SandboxLimits

__all__ = [
    "SCRATCH_FOLDERS",
    "apply_limits",
    "drop_privileges",
    "loopback_up",
    "mount_view",
    "set_dumpable",
    "set_subreaper",
]

#: The private tmpfs folders of a sandbox (its only writable places).
SCRATCH_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm", "/run", "/run/lock")

_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_NOEXEC = 8
_MS_REMOUNT = 32
_MS_NOATIME = 1024
_MS_NODIRATIME = 2048
_MS_BIND = 4096
_MS_REC = 16384
_MS_RELATIME = 1 << 21
# statvfs flags -> the mount flags a read-only remount must keep (locked in user namespaces)
_KEPT_FLAGS = {
    os.ST_NOSUID: _MS_NOSUID,
    os.ST_NODEV: _MS_NODEV,
    os.ST_NOEXEC: _MS_NOEXEC,
    os.ST_NOATIME: _MS_NOATIME,
    os.ST_NODIRATIME: _MS_NODIRATIME,
    os.ST_RELATIME: _MS_RELATIME,
}
_ESCAPE = re.compile(r"\\([0-7]{3})")
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    result = _libc.mount(
        source.encode(),
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target}: {os.strerror(errno)}")


def _prctl(option: int, value: int) -> None:
    if _libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def loopback_up() -> None:
    """Bring up ``lo`` in this (new) network namespace: the sandbox's own loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH", b"lo", 0)
        (flags,) = struct.unpack_from("H", fcntl.ioctl(sock, _SIOCGIFFLAGS, request), 16)
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | _IFF_UP))


def _mount_points() -> list[str]:
    """Every mount point this process sees, parents first, each once."""
    points: list[str] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        raw = line.split(" ")[4]
        point = _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), raw)
        if point not in points:
            points.append(point)
    return sorted(points, key=lambda p: len(Path(p).parts))


def _remount_read_only(point: str) -> None:
    kept = os.statvfs(point).f_flag
    flags = _MS_REMOUNT | _MS_BIND | _MS_RDONLY
    for statvfs_flag, mount_flag in _KEPT_FLAGS.items():
        if kept & statvfs_flag:
            flags |= mount_flag
    _mount("none", point, None, flags, None)


def _all_read_only() -> None:
    """Remount every inherited mount read-only; a failure fails the step (fail closed)."""
    for point in _mount_points():
        if not os.path.isdir(point) and not os.path.exists(point):
            continue
        try:
            _remount_read_only(point)
        except OSError as exc:
            if point == "/proc" or point.startswith("/proc/"):
                continue  # the namespace's own procfs: permissions apply per process
            raise OSError(exc.errno, f"could not make {point} read-only: {exc}") from None


def set_subreaper() -> None:
    """Orphaned descendants become this process's children (to be reaped and killed)."""
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def set_dumpable() -> None:
    """Let the process read its own ``/proc/self`` after a uid change.

    Only under a PID namespace, where no other process of the same uid can see it.
    """
    _prctl(_PR_SET_DUMPABLE, 1)


def _closed_to_others(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISDIR(mode) and not mode & stat.S_IXOTH


def _blocked_ancestor(path: Path) -> Path | None:
    """The outermost folder above ``path`` that others may not enter, if any."""
    for ancestor in reversed(path.parents):
        if _closed_to_others(ancestor):
            return ancestor
    return None


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def mount_view(
    hidden: Iterable[str], needed: Iterable[str], scratch_bytes: int, unprivileged: bool
) -> list[str]:
    """Set up the child's view of the filesystem; returns what was done, for the log.

    Args:
        hidden: paths to cover (FlowAt's home, the metadata database).
        needed: installations the step needs (Python, site-packages, FlowAt).
        scratch_bytes: size of each scratch tmpfs.
        unprivileged: the step will run as an unprivileged uid, so folders it cannot
            enter that hold ``needed`` paths are covered and those paths bound back.

    Raises:
        OSError: a mount failed (the step must not run then).

    """
    needs = sorted(
        {Path(p).resolve() for p in needed if Path(p).is_dir()}, key=lambda p: len(p.parts)
    )
    handles = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in needs}
    done: list[str] = []
    try:
        _all_read_only()
        covers: list[Path] = []
        hidden_dirs: list[Path] = []
        for raw in hidden:
            path = Path(raw)
            if path.is_dir():
                flags = _MS_RDONLY | _MS_NOSUID | _MS_NODEV
                _mount("tmpfs", str(path), "tmpfs", flags, "size=4k,mode=0755")
                hidden_dirs.append(path)
            elif path.exists():
                _mount("/dev/null", str(path), None, _MS_BIND, None)
            else:
                continue
            done.append(f"hid {path}")
        for folder in SCRATCH_FOLDERS:
            if folder == "/run/lock" and Path("/run") in covers:
                Path(folder).mkdir(mode=0o755, exist_ok=True)  # inside the new /run
            if Path(folder).is_dir():
                options = f"size={scratch_bytes},mode=1777"
                _mount("tmpfs", folder, "tmpfs", _MS_NOSUID | _MS_NODEV, options)
                covers.append(Path(folder))
        blockers: list[Path] = []
        if unprivileged:
            blocked = {b for p in needs if (b := _blocked_ancestor(p)) is not None}
            for blocker in sorted(blocked, key=lambda p: len(p.parts)):
                if any(_inside(blocker, c) for c in covers):
                    continue  # already replaced by an empty tmpfs
                flags = _MS_NOSUID | _MS_NODEV
                _mount("tmpfs", str(blocker), "tmpfs", flags, "size=64k,mode=0755")
                covers.append(blocker)
                blockers.append(blocker)
                done.append(f"covered {blocker}")
        bound: list[Path] = []
        for path in needs:
            if not any(_inside(path, c) for c in covers) or any(_inside(path, b) for b in bound):
                continue
            if any(_inside(path, h) for h in hidden_dirs):
                continue  # hidden on purpose
            path.mkdir(parents=True, exist_ok=True, mode=0o755)
            _mount(f"/proc/self/fd/{handles[path]}", str(path), None, _MS_BIND | _MS_REC, None)
            _remount_read_only(str(path))
            bound.append(path)
        for blocker in blockers:
            _remount_read_only(str(blocker))  # the empty folder stays empty
    finally:
        for handle in handles.values():
            os.close(handle)
    return done


def drop_privileges(uid: int) -> None:
    """Become ``uid`` (and group ``uid``) with no supplementary groups, for good."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:  # pragma: no cover - kernel guarantees
        raise OSError(f"could not become uid {uid}")


def apply_limits(limits: SandboxLimits) -> None:
    """Set the rlimits of this process (inherited by everything it starts)."""
    cpu = max(1, limits.cpu_seconds)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_bytes, limits.file_size_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
