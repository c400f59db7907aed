"""A private ``FLOWAT_HOME``: folders 0700, files 0600, and a home that is the user's own.

:func:`secure_home` makes the home private before anything is written in it;
:func:`private_dir`, :func:`private_file` and :func:`private_tree` create (or tighten)
what other modules keep in it. All are re-exported by :mod:`flowat_kernel.config`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Protocol

from flowat_kernel.errors import ConfigError

__all__ = ["HomeSettings", "private_dir", "private_file", "private_tree", "secure_home"]


class HomeSettings(Protocol):
    """What :func:`secure_home` reads of :class:`~flowat_kernel.config.Settings`."""

    @property
    def home(self) -> Path:
        """The home folder."""

    @property
    def database_url(self) -> str:
        """The metadata store's URL (its SQLite file is made private too)."""


_LOOSE = 0o077  # any permission for the group or others
#: The home's own folders, created 0700 at start.
_HOME_FOLDERS = ("artifacts", "temporal", "vault", "analytics")


def _chmod_private(path: Path, mode: int, is_dir: bool) -> None:
    """Drop the group's and others' bits of ``path`` (directories also get ``u+rwx``)."""
    wanted = 0o700 if is_dir else (mode & 0o700) | 0o600
    try:
        try:
            os.chmod(path, wanted, follow_symlinks=False)
        except NotImplementedError:  # no AT_SYMLINK_NOFOLLOW here: never chmod through a link
            if not path.is_symlink():
                os.chmod(path, wanted)
    except OSError as exc:
        raise ConfigError(
            f"{path} is readable by other users (mode {mode:04o}) and FlowAt cannot make it "
            f"private ({exc.strerror}); run `chmod -R go-rwx {path}` as its owner"
        ) from None


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) with mode 0700; tighten it if it is looser.

    Raises:
        ConfigError: the folder cannot be created or made private.

    """
    missing = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise ConfigError(f"cannot create the folder {folder}: {exc.strerror}") from None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & _LOOSE or (mode & 0o700) != 0o700:
        _chmod_private(path, mode, is_dir=True)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 unless it exists (then only tighten it).

    Raises:
        ConfigError: it cannot be created or made private.

    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & _LOOSE:
            _chmod_private(path, mode, is_dir=False)
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {exc.strerror}") from None
    return path


def private_tree(folder: Path) -> Path:
    """:func:`private_dir`, then make whatever others can read under ``folder`` private.

    Raises:
        ConfigError: something cannot be made private.

    """
    private_dir(folder)
    _tighten(folder)
    return folder


def _tighten(folder: Path) -> None:
    """Make loose entries under ``folder`` private, descending only into loose folders.

    A private (0700) folder of the user already keeps everything below it from others,
    so folders that are private are not walked again.
    """
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_symlink():
                continue  # never followed; reaching through one needs the folder anyway
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone meanwhile (a database's journal file, say): nothing to do
            mode = stat.S_IMODE(info.st_mode)
            is_dir = stat.S_ISDIR(info.st_mode)
            if mode & _LOOSE:
                _chmod_private(Path(entry.path), mode, is_dir)
                if is_dir:
                    _tighten(Path(entry.path))


def _user_home() -> Path | None:
    try:
        return Path.home().resolve()
    except (RuntimeError, KeyError, OSError):  # no HOME and no user database entry
        return None


def _sqlite_in(home: Path, database_url: str) -> Path | None:
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        return None
    raw = database_url[len(prefix) :].split("?", 1)[0]
    if not raw or raw == ":memory:":
        return None
    path = Path(raw)
    return path if path.parent == home else None


def secure_home(config: HomeSettings) -> Path:
    """Make ``FLOWAT_HOME`` private before anything is written in it.

    Creates the home and its folders (artifacts, temporal, vault, analytics) with mode
    0700 and the SQLite store in it as an empty 0600 file (so that SQLite and its
    journals keep that mode); tightens an existing home and whatever under it others
    can read (folders 0700, files lose the group's and others' bits; a folder that is
    already private is not walked, since nothing below it can be reached); refuses a
    home that is not the current user's own.

    Raises:
        ConfigError: the home belongs to another user, is a shared folder, is not a
            folder, or cannot be made private; the message says what to do.

    """
    home = config.home
    if not home.exists():
        private_dir(home)
    info = home.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"FLOWAT_HOME={home} is not a folder; point it at a folder of its own")
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.geteuid():
        raise ConfigError(
            f"refusing FLOWAT_HOME={home}: it belongs to uid {info.st_uid}, not to you "
            f"(uid {os.geteuid()}), so its owner could read or replace FlowAt's data. "
            "Set FLOWAT_HOME to a folder of your own (the default is ~/.flowat)."
        )
    if mode & (stat.S_ISVTX | 0o002) or home == Path(home.anchor) or home == _user_home():
        raise ConfigError(
            f"refusing FLOWAT_HOME={home}: it is a shared or personal folder (mode "
            f"{mode:04o}), which FlowAt would have to make private. Set FLOWAT_HOME to a "
            "folder used only by FlowAt (the default is ~/.flowat)."
        )
    if mode != 0o700:
        _chmod_private(home, mode, is_dir=True)
    _tighten(home)
    for folder in _HOME_FOLDERS:  # so that what other modules create in them stays private
        private_dir(home / folder)
    database = _sqlite_in(home, config.database_url)
    if database is not None:
        private_file(database)
    return home
