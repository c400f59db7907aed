"""Expression evaluations per second, against plain Python ``eval`` of the same code.

Typical mapping expressions (field access, arithmetic, a helper call, a comprehension
over 100 items, a condition, an f-string) are parsed once with
``flowat_kernel.expressions.parse`` and evaluated many times with
``Expression.evaluate``. Baseline, in the same run: the same text compiled once with
``compile(text, "<expr>", "eval")`` and run with ``eval(code, helpers, context)``, where
``helpers`` holds FlowAt's own ``FUNCTIONS`` (and no other builtins), so both sides
call the same helper code. Sandbox and baseline are interleaved in rounds so drifting
load hits both alike; each round times a batch of calls, and the median round is kept.
Both sides must give equal results, or the benchmark fails. Parsing (with the static
checks) is timed separately, as is a one-shot ``evaluate(text, context)``.
Run: ``python benchmarks/bench_expressions.py`` (results in
benchmarks/results/expressions.json).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import simpleeval

from flowat_kernel.expressions import FUNCTIONS, Limits, evaluate, parse

RESULTS = Path(__file__).resolve().parent / "results" / "expressions.json"

CONTEXT: dict[str, Any] = {
    "order": {
        "id": "A-1042",
        "total": 129.5,
        "qty": 3,
        "status": "paid",
        "customer": {"name": "Ada Lovelace", "email": "ADA@example.com", "tier": "gold"},
    },
    "items": [
        {"sku": f"SKU-{i}", "price": (i * 37) % 200 / 4, "qty": i % 5, "active": i % 3 != 0}
        for i in range(100)
    ],
    "rate": 0.2,
}

CASES: dict[str, str] = {
    "field access": 'order["customer"]["email"]',
    "arithmetic": 'round(order["total"] * order["qty"] * (1 + rate), 2)',
    "condition": 'order["status"] == "paid" and order["total"] > 100',
    "helper call": 'lower(order["customer"]["email"])',
    "method call": 'order["customer"]["name"].split()[0].upper()',
    "f-string": "f\"{order['id']}: {order['total']:.2f} EUR\"",
    "comprehension (100 items)": '[i["price"] * i["qty"] for i in items if i["active"]]',
    "dict mapping (100 items)": '{i["sku"]: i["price"] for i in items if i["qty"] > 2}',
    "sum over 100 items": 'sum(i["price"] * i["qty"] for i in items)',
}


def rate(action: Callable[[], Any], calls: int) -> float:
    """Seconds per call, timing ``calls`` calls in one batch."""
    clock = time.perf_counter
    start = clock()
    for _ in range(calls):
        action()
    return (clock() - start) / calls


def calls_for(action: Callable[[], Any], budget_s: float) -> int:
    """How many calls fill about ``budget_s`` seconds."""
    per_call = rate(action, 20)
    return max(20, int(budget_s / max(per_call, 1e-9)))


def bench_case(text: str, rounds: int, round_s: float) -> dict[str, Any]:
    expression = parse(text)
    code = compile(text, "<expr>", "eval")
    globals_ = {"__builtins__": {}, **FUNCTIONS}
    no_clock = Limits(max_seconds=None)

    def sandbox() -> Any:
        return expression.evaluate(CONTEXT)

    def sandbox_no_clock() -> Any:
        return expression.evaluate(CONTEXT, no_clock)

    def baseline() -> Any:
        return eval(code, globals_, CONTEXT)

    got, want = sandbox(), baseline()
    if got != want:
        raise SystemExit(f"results differ for {text!r}: {got!r} != {want!r}")

    actions = {"sandbox": sandbox, "sandbox_no_clock": sandbox_no_clock, "eval": baseline}
    batch = {key: calls_for(action, round_s) for key, action in actions.items()}
    samples: dict[str, list[float]] = {key: [] for key in actions}
    for _ in range(rounds):
        for key, action in actions.items():
            samples[key].append(rate(action, batch[key]))
    median = {key: statistics.median(values) for key, values in samples.items()}
    parse_s = rate(lambda: parse(text), calls_for(lambda: parse(text), round_s))
    one_shot_s = rate(
        lambda: evaluate(text, CONTEXT), calls_for(lambda: evaluate(text, CONTEXT), round_s)
    )
    return {
        "expression": text,
        "sandbox_evals_per_s": 1 / median["sandbox"],
        "sandbox_us": median["sandbox"] * 1e6,
        "sandbox_no_clock_us": median["sandbox_no_clock"] * 1e6,
        "eval_evals_per_s": 1 / median["eval"],
        "eval_us": median["eval"] * 1e6,
        "ratio": median["sandbox"] / median["eval"],
        "parse_us": parse_s * 1e6,
        "parse_and_evaluate_us": one_shot_s * 1e6,
        "calls_per_round": batch,
        "samples_us": {k: [v * 1e6 for v in vs] for k, vs in samples.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per case")
    parser.add_argument("--round-seconds", type=float, default=0.2, help="time per batch")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    results = {}
    print(f"{'case':28} {'sandbox/s':>11} {'eval/s':>11} {'ratio':>7} {'parse':>9}")
    for name, text in CASES.items():
        result = bench_case(text, args.rounds, args.round_seconds)
        results[name] = result
        print(
            f"{name:28} {result['sandbox_evals_per_s']:>11,.0f} "
            f"{result['eval_evals_per_s']:>11,.0f} {result['ratio']:>6.1f}x "
            f"{result['parse_us']:>7.0f}us"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": {
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "simpleeval": getattr(simpleeval, "__version__", "1.0.x"),
                },
                "rounds": args.rounds,
                "round_seconds": args.round_seconds,
                "cases": results,
            },
            indent=2,
        )
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
