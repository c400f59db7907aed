"""Settings, read from the environment once per call so tests can point FlowAt elsewhere.

| variable | default | meaning |
| --- | --- | --- |
| ``FLOWAT_HOME`` | ``~/.flowat`` | state folder: SQLite store, artifacts, embedded Temporal |
| ``FLOWAT_DATABASE_URL`` | SQLite in ``FLOWAT_HOME`` | SQLAlchemy URL of the metadata store |
| ``FLOWAT_REDIS_URL`` | unset | Redis for the definition cache (optional) |
| ``FLOWAT_TEMPORAL_ADDRESS`` | unset: embedded dev server | ``host:port`` of a Temporal frontend |
| ``FLOWAT_TEMPORAL_NAMESPACE`` | ``default`` | Temporal namespace |
| ``FLOWAT_TEMPORAL_TLS`` | ``false`` | ``true`` to use TLS with system roots |
| ``FLOWAT_TEMPORAL_TLS_CERT``, ``_KEY``, ``_CA`` | unset | client cert, key, CA (PEM) |
| ``FLOWAT_TASK_QUEUE`` | ``flowat`` | task queue workers poll and runs start on |
| ``FLOWAT_OWNER`` | the OS user | owner recorded on workflows and runs |
| ``FLOWAT_HEARTBEAT_TIMEOUT`` | ``30`` | seconds of silence before a step's worker counts as dead |
| ``FLOWAT_UNTRUSTED_CODE`` | ``marked`` | ``all``: every code step runs sandboxed |
| ``FLOWAT_SANDBOX_ISOLATION`` | ``auto`` | ``auto``, ``namespaces`` (required), ``rlimits`` |
| ``FLOWAT_SANDBOX_CPU`` | ``60`` | CPU seconds of a sandboxed step (``RLIMIT_CPU``) |
| ``FLOWAT_SANDBOX_MEMORY`` | ``1GiB`` | address space of a sandboxed step (``RLIMIT_AS``) |
| ``FLOWAT_SANDBOX_PROCESSES`` | ``64`` | processes and threads (``RLIMIT_NPROC``) |
| ``FLOWAT_SANDBOX_OPEN_FILES`` | ``256`` | open file descriptors (``RLIMIT_NOFILE``) |
| ``FLOWAT_SANDBOX_FILE_SIZE`` | ``256MiB`` | largest file (``RLIMIT_FSIZE``), scratch tmpfs size |
| ``FLOWAT_SANDBOX_OUTPUT`` | ``1MiB`` | captured stdout and stderr; more fails the step |
| ``FLOWAT_SANDBOX_EXPORTS`` | ``256MiB`` | exported values, encoded; more fails the step |
| ``FLOWAT_SANDBOX_UID`` | ``65534`` | the uid sandboxed code runs as when FlowAt is root |
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from flowat_kernel.errors import ConfigError

__all__ = ["IsolationChoice", "Settings", "UntrustedPolicy", "settings"]

#: Which code steps run sandboxed: those marked ``--untrusted``, or all of them.
UntrustedPolicy = Literal["marked", "all"]
#: The isolation asked for: the strongest available, namespaces or fail, rlimits only.
IsolationChoice = Literal["auto", "namespaces", "rlimits"]


@dataclass(frozen=True)
class Settings:
    """A snapshot of FlowAt's configuration."""

    home: Path
    database_url: str
    redis_url: str | None
    temporal_address: str | None
    temporal_namespace: str
    temporal_tls: bool
    temporal_tls_cert: Path | None
    temporal_tls_key: Path | None
    temporal_tls_ca: Path | None
    task_queue: str
    owner: str
    heartbeat_timeout: float = 30.0
    untrusted_code: UntrustedPolicy = "marked"
    sandbox_isolation: IsolationChoice = "auto"
    sandbox_cpu_seconds: int = 60
    sandbox_memory_bytes: int = 1 << 30
    sandbox_processes: int = 64
    sandbox_open_files: int = 256
    sandbox_file_size_bytes: int = 256 << 20
    sandbox_output_bytes: int = 1 << 20
    sandbox_exports_bytes: int = 256 << 20
    sandbox_uid: int = 65534

    @property
    def artifacts_dir(self) -> Path:
        """Folder of the local artifact store."""
        return self.home / "artifacts"

    @property
    def temporal_dir(self) -> Path:
        """Folder of the embedded Temporal dev server (database, state, log)."""
        return self.home / "temporal"


def _flag(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use true or false")


def _path(name: str) -> Path | None:
    raw = os.environ.get(name)
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        raise ConfigError(f"{name} points at {path}, which is not a readable file")
    return path


def _owner() -> str:
    explicit = os.environ.get("FLOWAT_OWNER")
    if explicit:
        return explicit
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (some containers)
        return "local"


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigError(f"{name}={raw!r} is not a positive number of seconds")
    return value


def _count(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} is not a whole number of at least {minimum}")
    return value


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _size(name: str, default: int) -> int:
    """A size in bytes: ``1048576``, ``512M``, ``512MiB``, ``1G``, ``1GB`` (powers of 1024)."""
    raw = os.environ.get(name)
    if not raw:
        return default
    text = raw.strip().lower().removesuffix("ib").removesuffix("b")
    unit = text[-1:] if text[-1:] in _UNITS else ""
    number = text[: len(text) - len(unit)].strip()
    try:
        value = int(float(number) * _UNITS[unit])
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} is not a size; use bytes or a unit, e.g. 512MiB or 2GiB")
    return value


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    raw = (os.environ.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in choices:
        raise ConfigError(f"{name}={raw!r} is not one of {', '.join(choices)}")
    return raw


def settings() -> Settings:
    """Read the current settings from the environment.

    Raises:
        ConfigError: a variable is set to something unusable.

    """
    home = Path(os.environ.get("FLOWAT_HOME") or "~/.flowat").expanduser().resolve()
    database_url = os.environ.get("FLOWAT_DATABASE_URL") or f"sqlite:///{home / 'flowat.db'}"
    address = os.environ.get("FLOWAT_TEMPORAL_ADDRESS") or None
    if address is not None and ":" not in address:
        raise ConfigError(
            f"FLOWAT_TEMPORAL_ADDRESS={address!r} needs a port, for example {address}:7233"
        )
    return Settings(
        home=home,
        database_url=database_url,
        redis_url=os.environ.get("FLOWAT_REDIS_URL") or None,
        temporal_address=address,
        temporal_namespace=os.environ.get("FLOWAT_TEMPORAL_NAMESPACE") or "default",
        temporal_tls=_flag("FLOWAT_TEMPORAL_TLS"),
        temporal_tls_cert=_path("FLOWAT_TEMPORAL_TLS_CERT"),
        temporal_tls_key=_path("FLOWAT_TEMPORAL_TLS_KEY"),
        temporal_tls_ca=_path("FLOWAT_TEMPORAL_TLS_CA"),
        task_queue=os.environ.get("FLOWAT_TASK_QUEUE") or "flowat",
        owner=_owner(),
        heartbeat_timeout=_seconds("FLOWAT_HEARTBEAT_TIMEOUT", 30.0),
        untrusted_code=cast(
            UntrustedPolicy, _choice("FLOWAT_UNTRUSTED_CODE", ("marked", "all"), "marked")
        ),
        sandbox_isolation=cast(
            IsolationChoice,
            _choice("FLOWAT_SANDBOX_ISOLATION", ("auto", "namespaces", "rlimits"), "auto"),
        ),
        sandbox_cpu_seconds=_count("FLOWAT_SANDBOX_CPU", 60),
        sandbox_memory_bytes=_size("FLOWAT_SANDBOX_MEMORY", 1 << 30),
        sandbox_processes=_count("FLOWAT_SANDBOX_PROCESSES", 64),
        sandbox_open_files=_count("FLOWAT_SANDBOX_OPEN_FILES", 256, minimum=16),
        sandbox_file_size_bytes=_size("FLOWAT_SANDBOX_FILE_SIZE", 256 << 20),
        sandbox_output_bytes=_size("FLOWAT_SANDBOX_OUTPUT", 1 << 20),
        sandbox_exports_bytes=_size("FLOWAT_SANDBOX_EXPORTS", 256 << 20),
        sandbox_uid=_count("FLOWAT_SANDBOX_UID", 65534),
    )
