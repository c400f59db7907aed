"""FlowAt's side of ``bench_engine.py`` alone, for a profiler: local 10-step chains.

Runs ``--batches`` batches of ``--runs`` runs at once of the 10-step ``--local`` no-op
chain (the engine path: ``RunLauncher.start_async`` and ``wait_for_result``), in one
process with its own embedded Temporal dev server, after a warm-up. Nothing is timed
here; run it under py-spy to see where FlowAt's worker spends its time::

    py-spy record -r 200 -f raw -o profile.txt -- python benchmarks/profile_engine.py
    python benchmarks/profile_engine.py --summary profile.txt   # top frames, self and total
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import tempfile
from pathlib import Path


def run(batches: int, runs: int, local: bool) -> None:
    from bench_engine import chain_cells, flowat_batch

    home = Path(tempfile.mkdtemp(prefix="flowat-profile-engine-"))
    os.environ["FLOWAT_HOME"] = str(home)
    for name in ("FLOWAT_DATABASE_URL", "FLOWAT_TEMPORAL_ADDRESS", "FLOWAT_REDIS_URL"):
        os.environ.pop(name, None)
    os.environ["FLOWAT_TASK_QUEUE"] = "profile-flowat"
    from flowat_kernel import api
    from flowat_kernel.engine import devserver
    from flowat_kernel.runtime import get_runtime, reset_runtime

    devserver.ensure_running(home / "temporal")
    runtime = get_runtime()
    try:
        runtime.call(runtime.ensure_worker())
        version = api.publish("profiled_chain", cells=chain_cells(local)).version
        runtime.call(flowat_batch(runtime, version, 10))  # warm-up
        for _ in range(batches):
            ids = runtime.call(flowat_batch(runtime, version, runs))
        bad = [i for i in ids if runtime.store.get_run(i).status != "succeeded"]
        if bad:
            raise RuntimeError(f"{len(bad)} runs did not succeed, e.g. {bad[0]}")
    finally:
        reset_runtime()
        devserver.stop(home / "temporal")
        shutil.rmtree(home, ignore_errors=True)


#: Leaf frames of a thread that waits (py-spy counts some of them as active).
IDLE = (
    "_worker (concurrent/futures/thread.py:81)",
    "Condition.wait (",
    "EpollSelector.select (",
    "BaseSelectorEventLoop._read_from_self",
)


def summary(path: Path, top: int) -> None:
    """Frames of a py-spy ``raw`` (collapsed) profile by samples: own and with callees.

    Samples whose innermost frame is a thread waiting (:data:`IDLE`) are left out.
    """
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        if not frames[-1].strip() or frames[-1].startswith(IDLE):
            idle += n
            continue
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    print(f"{samples} samples busy ({idle} waiting, left out)")
    for title, counter in (("own", own), ("with callees", total)):
        print(f"\n-- top {top} by {title}")
        for frame, n in counter.most_common(top):
            print(f"{100 * n / samples:5.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--activities", action="store_true", help="regular activities")
    parser.add_argument("--summary", type=Path, help="summarise a py-spy raw profile instead")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    if args.summary:
        summary(args.summary, args.top)
    else:
        run(args.batches, args.runs, not args.activities)


if __name__ == "__main__":
    main()
