"""Items of a ``--foreach`` step: one step process per item against one per chunk.

The cost in the worker and in the step's process of running many short items, measured
on ``flowat_kernel.engine.cells.run_code`` (no Temporal), interleaved in one run:

- **process per item**: every item's ``run_code`` takes a fresh child from the pool, as
  a ``--foreach`` step without ``--chunk`` does (one activity per item);
- **one process per chunk**: the items run inside ``cells.one_process()``, as the items
  of a ``--chunk`` do (``flowat.run_chunk``): the child takes the next item once it has
  sent the last one's result.

Each item is the batching webhook's first step (``order = {...}`` from ``item``), with
the whole ``events`` list among its inputs, as in a batch run. Reported: wall time per
item and the worker's CPU per item (``time.thread_time`` of the calling thread), median
over ``--rounds`` rounds of ``--items`` items per mode; the ratio is per item / per chunk.

Run: ``python benchmarks/bench_chunk_items.py [--items 400] [--rounds 5]`` (results in
benchmarks/results/chunk_items.json).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from common import machine, write_results

RESULTS = Path(__file__).resolve().parent / "results" / "chunk_items.json"
SOURCE = "order = {'id': item['id'], 'amount': float(item['amount'])}"
HEADER = "%%flowat step parse --foreach events --chunk 100"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ["FLOWAT_HOME"] = tempfile.mkdtemp(prefix="flowat-bench-chunk-")
    os.environ.pop("FLOWAT_STEP_EXECUTOR", None)

    from flowat_kernel.compiler import compile_cells
    from flowat_kernel.engine.cells import one_process, run_code, warm
    from flowat_kernel.step_context import StepScope
    from flowat_kernel.testing import cells

    spec = compile_cells(
        cells(f"{HEADER}\n{SOURCE}", parameters="events = []"),
        "bench_chunk",
    )
    step = spec.step("parse")
    events = [{"id": i, "amount": i + 0.5, "source": "bench"} for i in range(200)]
    scope = StepScope(None, "bench_chunk", "run_bench", "parse.0", 1)
    warm()

    def items(count: int) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.thread_time()
        for i in range(count):
            item = events[i % len(events)]
            inputs: dict[str, Any] = {"events": events, "item": item, "index": i}
            result = run_code(step, inputs, scope, deadline=time.monotonic() + 60)
            assert result.exports["order"]["id"] == item["id"]
        return (time.perf_counter() - wall) / count, (time.thread_time() - cpu) / count

    def chunked(count: int) -> tuple[float, float]:
        with one_process():
            return items(count)

    modes = {"process per item": items, "one process per chunk": chunked}
    for run in modes.values():
        run(20)  # the pool and the template are warm for both
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in modes}
    for _ in range(args.rounds):
        for name, run in modes.items():
            samples[name].append(run(args.items))
    results: dict[str, Any] = {
        "benchmark": "chunk_items",
        "items": args.items,
        "rounds": args.rounds,
        "machine": machine(),
        "modes": {},
    }
    print(f"{args.items} items x {args.rounds} rounds per mode (medians)")
    for name, values in samples.items():
        wall = statistics.median(v[0] for v in values) * 1000
        cpu = statistics.median(v[1] for v in values) * 1000
        results["modes"][name] = {"wall_ms_per_item": wall, "worker_cpu_ms_per_item": cpu}
        print(f"  {name:<24} {wall:7.2f} ms per item   worker CPU {cpu:5.2f} ms")
    each = results["modes"]["process per item"]["wall_ms_per_item"]
    chunk = results["modes"]["one process per chunk"]["wall_ms_per_item"]
    results["ratio_item_to_chunk"] = each / chunk
    print(f"  a process per item takes {each / chunk:.1f}x as long per item")
    write_results(args.out, results)


if __name__ == "__main__":
    main()
