"""Settings, read from the environment once per call so tests can point FlowAt elsewhere.

| variable | default | meaning |
| --- | --- | --- |
| ``FLOWAT_HOME`` | ``~/.flowat`` | private (0700) state folder: store, artifacts, Temporal |
| ``FLOWAT_DATABASE_URL`` | SQLite in ``FLOWAT_HOME`` | SQLAlchemy URL of the metadata store |
| ``FLOWAT_REDIS_URL`` | unset | Redis for the definition cache (optional) |
| ``FLOWAT_TEMPORAL_ADDRESS`` | unset: embedded dev server | ``host:port`` of a Temporal frontend |
| ``FLOWAT_TEMPORAL_NAMESPACE`` | ``default`` | Temporal namespace |
| ``FLOWAT_TEMPORAL_TLS`` | ``false`` | ``true`` to use TLS with system roots |
| ``FLOWAT_TEMPORAL_TLS_CERT``, ``_KEY``, ``_CA`` | unset | client cert, key, CA (PEM) |
| ``FLOWAT_TASK_QUEUE`` | ``flowat`` | the shared task queue ``flowat worker`` serves |
| ``FLOWAT_RUN_ON`` | ``here`` | local runs execute ``here`` (their own process) or ``shared`` |
| ``FLOWAT_WORKFLOW_SANDBOX`` | ``off`` | ``on``: workflows run in Temporal's sandbox |
| ``FLOWAT_HANDOFF`` | ``auto`` | ``off``: ``flowat run`` never hands a shared run to a worker |
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
| ``FLOWAT_FILES_ROOTS`` | ``data=FLOWAT_HOME/data`` | ``files`` roots: ``name=/path,...`` |
| ``FLOWAT_EGRESS`` | ``auto`` | ``open``, ``public``; ``auto``: ``public`` unless run locally |
| ``FLOWAT_EGRESS_ALLOW`` | unset | hosts, networks ``public`` allows: ``db.lan,10.0.0.0/8`` |
| ``FLOWAT_ARTIFACTS_URL`` | the home's folder | ``file:///dir``, ``database``, ``s3://b/p`` |
| ``FLOWAT_ARTIFACTS_ENDPOINT`` | unset: AWS | S3-compatible endpoint URL (MinIO, Ceph) |
| ``FLOWAT_ARTIFACTS_REGION`` | AWS configuration | the ``s3://`` bucket's region |
| ``FLOWAT_ARTIFACTS_ACCESS_KEY_ID``, ``_SECRET_ACCESS_KEY`` | AWS chain | S3 credentials |
| ``FLOWAT_TRACING`` | ``off`` | ``otlp``, ``console``, ``global``: OpenTelemetry spans |

``FLOWAT_ARTIFACTS_URL`` may also be a ``postgresql+psycopg://`` URL (another database
than the store). S3 credentials are read by the S3 backend only, never kept in
:class:`Settings` (see :mod:`flowat_kernel.engine.artifact_s3`).

With ``FLOWAT_TRACING`` on, the standard ``OTEL_*`` variables (endpoint, headers,
service name, sampler) configure the exporter; see :mod:`flowat_kernel.engine.tracing`.

``FLOWAT_HOME`` is private to the user running FlowAt: :func:`secure_home` creates it
0700 (and the SQLite store in it 0600), tightens an existing home that others could
read, and refuses one that belongs to another user or is a shared folder.

Step authors name a ``files`` root, never a path: only the folders the Administrator
lists in ``FLOWAT_FILES_ROOTS`` can be read or written (the list replaces the default
``data`` root; a root may not be ``/``, contain ``FLOWAT_HOME`` or the SQLite store,
or lie in ``FLOWAT_HOME`` outside ``FLOWAT_HOME/data``). See ``docs/connectors.md``.
"""

from __future__ import annotations

import functools
import getpass
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from flowat_kernel.config_home import private_dir, private_file, private_tree, secure_home
from flowat_kernel.config_values import _choice, _count, _flag, _path, _seconds, _size
from flowat_kernel.errors import ConfigError

__all__ = [
    "EgressChoice",
    "IsolationChoice",
    "Settings",
    "TracingChoice",
    "UntrustedPolicy",
    "private_dir",
    "private_file",
    "private_tree",
    "secure_home",
    "settings",
]

#: Which code steps run sandboxed: those marked ``--untrusted``, or all of them.
UntrustedPolicy = Literal["marked", "all"]
#: Where runs started by a notebook, the CLI, a script or papermill execute.
RunPlacement = Literal["here", "shared"]
#: The isolation asked for: the strongest available, namespaces or fail, rlimits only.
IsolationChoice = Literal["auto", "namespaces", "rlimits"]
#: Where network connectors may connect: anywhere, public addresses, or by trigger.
EgressChoice = Literal["auto", "open", "public"]
#: Where OpenTelemetry spans of runs and steps go (``off``: nothing is imported).
TracingChoice = Literal["off", "otlp", "console", "global"]


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
    run_on: RunPlacement = "here"
    sandbox_isolation: IsolationChoice = "auto"
    sandbox_cpu_seconds: int = 60
    sandbox_memory_bytes: int = 1 << 30
    sandbox_processes: int = 64
    sandbox_open_files: int = 256
    sandbox_file_size_bytes: int = 256 << 20
    sandbox_output_bytes: int = 1 << 20
    sandbox_exports_bytes: int = 256 << 20
    sandbox_uid: int = 65534
    #: The ``files`` connector's roots: (name, absolute folder), as configured.
    files_roots: tuple[tuple[str, Path], ...] = ()
    egress: EgressChoice = "auto"
    #: Host names and networks (CIDR) the ``public`` egress policy still reaches.
    egress_allow: tuple[str, ...] = ()
    #: Where artifacts live (``FLOWAT_ARTIFACTS_URL``); empty: the folder in the home.
    artifacts_url: str = ""
    #: The S3-compatible endpoint URL of ``s3://`` artifact storage (empty: AWS's own).
    artifacts_endpoint: str = ""
    #: The region of the ``s3://`` bucket (empty: from the AWS configuration).
    artifacts_region: str = ""
    #: OpenTelemetry tracing of runs and steps (``FLOWAT_TRACING``).
    tracing: TracingChoice = "off"

    @property
    def artifacts_dir(self) -> Path:
        """Folder of the local artifact store."""
        return self.home / "artifacts"

    @property
    def temporal_dir(self) -> Path:
        """Folder of the embedded Temporal dev server (database, state, log)."""
        return self.home / "temporal"


def _owner() -> str:
    explicit = os.environ.get("FLOWAT_OWNER")
    if explicit:
        return explicit
    names = tuple(os.environ.get(n) for n in ("LOGNAME", "USER", "LNAME", "USERNAME"))
    return _user(os.getuid(), names)


@functools.lru_cache(maxsize=8)
def _user(uid: int, names: tuple[str | None, ...]) -> str:
    """The login name, once per user and environment (the user database is a file read)."""
    try:
        return getpass.getuser()  # the variables ``names`` holds first, then the uid's entry
    except Exception:  # no user database entry (some containers)
        return "local"


@functools.lru_cache(maxsize=16)
def _home(raw: str, user_home: str | None, cwd: str) -> Path:
    """``FLOWAT_HOME`` as an absolute path, links resolved (once per value, ``~`` and folder)."""
    return Path(raw).expanduser().resolve()


def settings() -> Settings:
    """Read the current settings from the environment.

    Raises:
        ConfigError: a variable is set to something unusable.

    """
    raw = os.environ.get("FLOWAT_HOME") or "~/.flowat"
    home = _home(raw, os.environ.get("HOME"), "" if raw.startswith(("/", "~")) else os.getcwd())
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
        run_on=cast(RunPlacement, _choice("FLOWAT_RUN_ON", ("here", "shared"), "here")),
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
        files_roots=_files_roots(home, database_url),
        egress=cast(EgressChoice, _choice("FLOWAT_EGRESS", ("auto", "open", "public"), "auto")),
        egress_allow=tuple(
            e.strip() for e in os.environ.get("FLOWAT_EGRESS_ALLOW", "").split(",") if e.strip()
        ),
        artifacts_url=_artifacts_url(),
        artifacts_endpoint=(os.environ.get("FLOWAT_ARTIFACTS_ENDPOINT") or "").strip(),
        artifacts_region=(os.environ.get("FLOWAT_ARTIFACTS_REGION") or "").strip(),
        tracing=cast(
            TracingChoice,
            _choice("FLOWAT_TRACING", ("off", "otlp", "console", "global"), "off"),
        ),
    )


_ARTIFACT_SCHEMES = ("file://", "s3://", "postgresql://", "postgresql+")


def _artifacts_url() -> str:
    """``FLOWAT_ARTIFACTS_URL``, its kind checked (the backend checks the rest on use).

    Raises:
        ConfigError: not ``database``, a ``file://``, ``s3://`` or ``postgresql`` URL.

    """
    raw = (os.environ.get("FLOWAT_ARTIFACTS_URL") or "").strip()
    if raw and raw != "database" and not raw.startswith(_ARTIFACT_SCHEMES):
        shown = raw.split("://", 1)[0] + "://..." if "://" in raw else raw[:40]
        raise ConfigError(
            f"FLOWAT_ARTIFACTS_URL={shown!r} is not an artifact storage URL; use "
            "file:///absolute/folder, database (the store's PostgreSQL), "
            "postgresql+psycopg://user@host/db or s3://bucket/prefix, or unset it for "
            "FLOWAT_HOME/artifacts"
        )
    return raw


# -- the files connector's roots --------------------------------------------------------

_ROOT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


def _files_roots(home: Path, database_url: str) -> tuple[tuple[str, Path], ...]:
    """``FLOWAT_FILES_ROOTS`` (``name=/path,...``) checked, or the default ``data`` root.

    Raises:
        ConfigError: a malformed entry, a relative path, a name used twice, or a folder
            that would expose FlowAt's own state (``/``, the home, the store, the vault).

    """
    raw = os.environ.get("FLOWAT_FILES_ROOTS", "").strip()
    if not raw:
        return (("data", home / "data"),)
    data = home / "data"
    database = _sqlite_file(database_url)
    roots: dict[str, Path] = {}
    for entry in (e.strip() for e in raw.split(",")):
        name, sep, text = entry.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not _ROOT_NAME.match(name) or not text:
            raise ConfigError(
                f"FLOWAT_FILES_ROOTS: {entry!r} is not name=/absolute/folder (a name is a "
                "letter then letters, digits, _ or -), e.g. FLOWAT_FILES_ROOTS=data=/srv/data"
            )
        path = Path(text).expanduser()
        if not path.is_absolute():
            raise ConfigError(f"FLOWAT_FILES_ROOTS: {name}={text!r} is not an absolute path")
        if name in roots:
            raise ConfigError(f"FLOWAT_FILES_ROOTS: the name {name!r} is used twice")
        real = path.resolve()
        exposes = (
            real == Path(real.anchor)
            or home.is_relative_to(real)
            or (real.is_relative_to(home) and not real.is_relative_to(data))
            or (database is not None and database.is_relative_to(real))
        )
        if exposes:
            raise ConfigError(
                f"FLOWAT_FILES_ROOTS: {name}={text!r} would expose FlowAt's own state (the "
                "file system root, FLOWAT_HOME, its store, vault or artifacts); give a data "
                f"folder of its own, or one under {data}"
            )
        roots[name] = path
    return tuple(roots.items())


def _sqlite_file(database_url: str) -> Path | None:
    prefix = "sqlite:///"
    raw = database_url[len(prefix) :].split("?", 1)[0] if database_url.startswith(prefix) else ""
    return Path(raw).expanduser().resolve() if raw and raw != ":memory:" else None
