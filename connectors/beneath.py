"""Open folders and files beneath a root, race-free: no path ever leaves the root.

Nothing is checked and then opened. A folder is opened with ``openat2`` and
``RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`` (Linux 5.6+), or, where that system call is
missing or refused, by a walk that opens each component with ``O_NOFOLLOW`` relative to
the descriptor of the one before. The file itself is then opened, created, linked or
renamed relative to its folder's descriptor with ``O_NOFOLLOW``. So a symbolic link
anywhere in the path, even one swapped in while the call runs, makes the call fail; it
is never followed.

Paths are relative, ``/``-separated, without ``..``: :func:`parts` refuses the rest.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
import stat
import sys

__all__ = ["EscapeError", "open_folder", "parts", "use_openat2"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

# openat2(2): the same number on every architecture listed (the unified syscall table).
_SYS_OPENAT2 = 437
_ARCHES = {"x86_64", "aarch64", "arm64", "riscv64", "ppc64le", "s390x", "i686", "armv7l"}
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08


class EscapeError(ValueError):
    """A path that is absolute, holds ``..``, or names the root itself."""


class _OpenHow(ctypes.Structure):
    _fields_ = (
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    )


#: Whether to try ``openat2`` (tests turn it off to exercise the walk).
use_openat2 = sys.platform == "linux" and platform.machine() in _ARCHES
_syscall = ctypes.CDLL(None, use_errno=True).syscall if use_openat2 else None


def parts(path: str) -> list[str]:
    """The components of a relative path (``.`` and empty ones dropped).

    Raises:
        EscapeError: the path is absolute, contains ``..`` or a NUL, or names the root.

    """
    if path.startswith(("/", "\\")) or "\x00" in path:
        raise EscapeError("is absolute (or holds a NUL); give a path relative to the root")
    found = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in found:
        raise EscapeError("contains '..'; give a path inside the root without '..'")
    if not found:
        raise EscapeError("names the root itself; give a path to a file inside it")
    return found


def _openat2(dir_fd: int, path: str) -> int:
    """``openat2(dir_fd, path, O_DIRECTORY, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)``.

    Raises:
        OSError: as the system call; ``ENOSYS`` when it does not exist.

    """
    assert _syscall is not None
    how = _OpenHow(_DIR_FLAGS, 0, _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS)
    for _ in range(8):  # EAGAIN: a concurrent rename or mount; the kernel asks to retry
        fd = int(
            _syscall(
                ctypes.c_long(_SYS_OPENAT2),
                ctypes.c_int(dir_fd),
                ctypes.c_char_p(os.fsencode(path)),
                ctypes.byref(how),
                ctypes.c_size_t(ctypes.sizeof(how)),
            )
        )
        if fd >= 0:
            return fd
        code = ctypes.get_errno()
        if code != errno.EAGAIN:
            raise OSError(code, os.strerror(code), path)
    raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN), path)


def _walk(root_fd: int, folders: list[str], make: bool) -> int:
    """Open ``folders`` one by one under ``root_fd`` with ``O_NOFOLLOW``; create if ``make``."""
    fd = os.dup(root_fd)
    try:
        for name in folders:
            try:
                following = os.open(name, _DIR_FLAGS | _NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if not make:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o777, dir_fd=fd)
                following = os.open(name, _DIR_FLAGS | _NOFOLLOW, dir_fd=fd)
            except NotADirectoryError:  # O_NOFOLLOW | O_DIRECTORY on a link says ENOTDIR
                if _is_link(fd, name):
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), name) from None
                raise
            os.close(fd)
            fd = following
    except BaseException:
        os.close(fd)
        raise
    return fd


def _is_link(fd: int, name: str) -> bool:
    """Whether ``name`` in ``fd`` is a symbolic link (only to word an error)."""
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def open_folder(root_fd: int, folders: list[str], make: bool = False) -> int:
    """A descriptor of the folder ``folders`` beneath ``root_fd``; the caller closes it.

    Raises:
        OSError: ``ELOOP`` (or ``EXDEV``) when a symbolic link is in the way, as well as
            the usual ``FileNotFoundError``, ``NotADirectoryError``, ...

    """
    global use_openat2
    if not folders:
        return os.dup(root_fd)
    if use_openat2:
        try:
            return _openat2(root_fd, "/".join(folders))
        except OSError as exc:
            if exc.errno in (errno.ENOSYS, errno.EPERM, errno.EINVAL):
                use_openat2 = False  # not in this kernel, or refused by a seccomp filter
            elif not (exc.errno == errno.ENOENT and make):
                raise
    return _walk(root_fd, folders, make)
