"""Profiling for ``bench_burst.py --profile DIR``: cProfile of threads and of the runtime's loop."""

from __future__ import annotations

import cProfile
import pstats
import threading
from pathlib import Path
from typing import Any


class Profiles:
    """cProfile per thread (cProfile sees one thread), merged into one statistics file."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.profiles: list[cProfile.Profile] = []
        self.lock = threading.Lock()

    def start_thread(self) -> None:
        """Thread-pool initializer: profile this thread from now on."""
        if self.folder is None:
            return
        profile = cProfile.Profile()
        with self.lock:
            self.profiles.append(profile)
        profile.enable()

    def stop_all(self, name: str) -> None:
        """Write the merged statistics of every profiled thread as ``name``."""
        if self.folder is None or not self.profiles:
            return
        for profile in self.profiles:
            profile.disable()
        stats = pstats.Stats(self.profiles[0])
        for profile in self.profiles[1:]:
            stats.add(profile)
        self.folder.mkdir(parents=True, exist_ok=True)
        stats.dump_stats(str(self.folder / f"{name}.prof"))
        with (self.folder / f"{name}.txt").open("w") as out:
            stats.stream = out  # type: ignore[attr-defined]
            stats.sort_stats("cumulative").print_stats(45)
            stats.sort_stats("tottime").print_stats(30)
        self.profiles.clear()


def profile_loop(runtime: Any, folder: Path | None) -> Profiles:
    """Profile the runtime's event loop thread (Temporal client, worker, workflows)."""
    profiles = Profiles(folder)
    if folder is not None:

        async def enable() -> None:
            profiles.start_thread()

        runtime.call(enable())
    return profiles


def stop_loop_profile(runtime: Any, profiles: Profiles, name: str) -> None:
    async def disable() -> None:
        profiles.stop_all(name)

    runtime.call(disable())


# -- waiting and checking ------------------------------------------------------------------
