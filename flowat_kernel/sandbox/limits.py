"""The resource limits of one sandboxed step, and how they read in logs and errors.

Plain data with no heavy imports: the parent builds it from the settings, the child
applies it (``resource.setrlimit``) and the parent enforces the output limits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowat_kernel.config import Settings

__all__ = ["LIMIT_SETTINGS", "SandboxLimits", "format_size"]


def format_size(size: int) -> str:
    """``1073741824`` -> ``1GiB``; ``1536`` -> ``1.5KiB``."""
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            value = size / factor
            return f"{value:g}{unit}" if value * 10 == int(value * 10) else f"{value:.1f}{unit}"
    return f"{size}B"


#: The setting that raises each limit, named in the error a violation raises.
LIMIT_SETTINGS: dict[str, str] = {
    "cpu": "FLOWAT_SANDBOX_CPU",
    "memory": "FLOWAT_SANDBOX_MEMORY",
    "processes": "FLOWAT_SANDBOX_PROCESSES",
    "open_files": "FLOWAT_SANDBOX_OPEN_FILES",
    "file_size": "FLOWAT_SANDBOX_FILE_SIZE",
    "disk": "FLOWAT_SANDBOX_FILE_SIZE",
    "output": "FLOWAT_SANDBOX_OUTPUT",
    "exports": "FLOWAT_SANDBOX_EXPORTS",
}


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one sandboxed step attempt (defaults match the settings' defaults).

    Attributes:
        cpu_seconds: CPU time (``RLIMIT_CPU``); the process is killed one second later.
        memory_bytes: address space (``RLIMIT_AS``).
        processes: processes and threads of the sandbox's user (``RLIMIT_NPROC``).
        open_files: open file descriptors (``RLIMIT_NOFILE``).
        file_size_bytes: largest file written (``RLIMIT_FSIZE``), and the size of each
            scratch tmpfs (``/tmp``, ``/var/tmp``, ``/dev/shm``) under namespaces.
        output_bytes: captured stdout and stderr together.
        exports_bytes: exported values, as encoded to leave the sandbox.

    """

    cpu_seconds: int = 60
    memory_bytes: int = 1 << 30
    processes: int = 64
    open_files: int = 256
    file_size_bytes: int = 256 << 20
    output_bytes: int = 1 << 20
    exports_bytes: int = 256 << 20

    @classmethod
    def from_settings(cls, config: Settings) -> SandboxLimits:
        """The limits the ``FLOWAT_SANDBOX_*`` settings ask for."""
        return cls(
            cpu_seconds=config.sandbox_cpu_seconds,
            memory_bytes=config.sandbox_memory_bytes,
            processes=config.sandbox_processes,
            open_files=config.sandbox_open_files,
            file_size_bytes=config.sandbox_file_size_bytes,
            output_bytes=config.sandbox_output_bytes,
            exports_bytes=config.sandbox_exports_bytes,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SandboxLimits:
        """The limits from :meth:`as_dict` (as they cross to the child)."""
        return cls(**{k: int(v) for k, v in data.items() if k in cls.__dataclass_fields__})

    def as_dict(self) -> dict[str, int]:
        """The limits as JSON."""
        return asdict(self)

    def describe(self) -> str:
        """One line for the step's log: ``cpu=60s mem=1GiB nproc=64 ...``."""
        return (
            f"rlimits cpu={self.cpu_seconds}s mem={format_size(self.memory_bytes)} "
            f"nproc={self.processes} nofile={self.open_files} "
            f"fsize={format_size(self.file_size_bytes)}; "
            f"output<={format_size(self.output_bytes)} "
            f"exports<={format_size(self.exports_bytes)}"
        )

    def violation(self, limit: str) -> str:
        """What a violation of ``limit`` means, and what to change."""
        setting = LIMIT_SETTINGS.get(limit)
        what = {
            "cpu": f"CPU limit of {self.cpu_seconds}s exceeded",
            "memory": f"memory limit of {format_size(self.memory_bytes)} exceeded",
            "processes": f"process limit of {self.processes} processes/threads reached",
            "open_files": f"open-file limit of {self.open_files} descriptors reached",
            "file_size": f"file-size limit of {format_size(self.file_size_bytes)} exceeded",
            "disk": f"scratch space of {format_size(self.file_size_bytes)} is full",
            "output": f"output limit of {format_size(self.output_bytes)} (stdout and stderr) "
            "exceeded",
            "exports": f"export limit of {format_size(self.exports_bytes)} exceeded",
        }.get(limit, f"{limit} limit exceeded")
        if setting is None:
            return what
        return f"{what}; raise {setting} on the worker or make the step use less"
