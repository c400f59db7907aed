"""Jittered retry delays: the delay function's bounds and spread, and real retries on the
Temporal dev server spaced by the delays the worker chose (different from run to run)."""

from __future__ import annotations

import json
import logging
import random
import re
import statistics
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.compiler import compile_cells
from flowat_kernel.engine.backoff import (
    MINIMUM_DELAY_SECONDS,
    backoff_bound,
    jittered_delay,
    next_retry_delay,
)
from flowat_kernel.spec import RetryPolicy
from flowat_kernel.testing import cells


def test_the_bound_is_the_policys_exponential_delay_capped_at_its_maximum() -> None:
    policy = RetryPolicy(
        initial_interval_seconds=1.0, backoff_coefficient=2.0, maximum_interval_seconds=60.0
    )
    assert [backoff_bound(policy, n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff_bound(policy, 10_000) == 60.0  # no overflow on a huge attempt number
    flat = RetryPolicy(initial_interval_seconds=3.0, backoff_coefficient=1.0)
    assert {backoff_bound(flat, n) for n in range(1, 20)} == {3.0}
    # A maximum below the initial interval never shortens the first delay below it.
    odd = RetryPolicy(initial_interval_seconds=5.0, maximum_interval_seconds=1.0)
    assert backoff_bound(odd, 1) == 5.0 and backoff_bound(odd, 4) == 5.0
    with pytest.raises(ValueError, match="attempt must be 1 or more"):
        backoff_bound(policy, 0)


def test_delays_stay_within_zero_and_the_bound_and_spread_over_it() -> None:
    policy = RetryPolicy(
        initial_interval_seconds=0.5, backoff_coefficient=3.0, maximum_interval_seconds=10.0
    )
    rng = random.Random(1234)
    for attempt in range(1, 8):
        bound = backoff_bound(policy, attempt)
        delays = [jittered_delay(policy, attempt, rng) for _ in range(4000)]
        assert all(MINIMUM_DELAY_SECONDS <= d <= bound for d in delays)
        # Full jitter is uniform over [0, bound]: mean bound/2, each quarter about 1/4.
        assert statistics.fmean(delays) == pytest.approx(bound / 2, rel=0.05)
        quarters = [
            sum(1 for d in delays if q * bound / 4 <= d < (q + 1) * bound / 4) for q in range(4)
        ]
        assert all(850 <= count <= 1150 for count in quarters), quarters
        assert len(set(delays)) > 3900  # not a handful of fixed values


def test_a_seeded_source_repeats_and_different_seeds_differ() -> None:
    policy = RetryPolicy()
    first = [jittered_delay(policy, n, random.Random(7)) for n in range(1, 6)]
    again = [jittered_delay(policy, n, random.Random(7)) for n in range(1, 6)]
    other = [jittered_delay(policy, n, random.Random(8)) for n in range(1, 6)]
    assert first == again and first != other
    assert next_retry_delay(policy, 1, random.Random(7)).total_seconds() == pytest.approx(first[0])
    # The process-wide source (no rng given) is not seeded the same way each call.
    assert len({jittered_delay(policy, 6) for _ in range(50)}) > 40


def _attempt_log_step(local: bool) -> str:
    """A step that logs when each attempt starts and fails, failing until attempt 4."""
    return (
        f"%%flowat step flaky --retries 3{' --local' if local else ''}\n"
        "import json, time\n"
        "from pathlib import Path\n"
        "_file = Path(log_path)\n"
        "_rows = json.loads(_file.read_text()) if _file.exists() else []\n"
        "attempt = len(_rows) + 1\n"
        "_row = {'attempt': attempt, 'started': time.time()}\n"
        "if attempt < 4:\n"
        "    _row['failed'] = time.time()\n"
        "    _file.write_text(json.dumps(_rows + [_row]))\n"
        "    raise ConnectionError(f'flaky service, attempt {attempt}')\n"
        "_file.write_text(json.dumps(_rows + [_row]))\n"
    )


_CHOSEN = re.compile(r"run (\S+) step 'flaky' attempt (\d) failed; next attempt in ([\d.]+) s")


@pytest.mark.parametrize("local", [False, True], ids=["activity", "local-activity"])
def test_real_retries_wait_the_jittered_delays_which_differ_across_runs(
    temporal: str,
    workflow_name: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    local: bool,
) -> None:
    caplog.set_level(logging.INFO, logger="flowat_kernel.engine.activities")
    compiled = compile_cells(
        cells(_attempt_log_step(local), parameters="log_path = ''"), workflow_name
    )
    policy = RetryPolicy(
        retries=3,
        initial_interval_seconds=0.4,
        backoff_coefficient=2.0,
        maximum_interval_seconds=1.0,
    )
    spec = compiled.model_copy(
        update={"steps": tuple(s.model_copy(update={"retry": policy}) for s in compiled.steps)}
    )
    flowat.publish(workflow_name, spec=spec)
    bounds = [backoff_bound(policy, n) for n in (1, 2, 3)]
    assert bounds == [0.4, 0.8, 1.0]

    chosen_per_run: list[list[float]] = []
    for index in range(2):
        log_path = tmp_path / f"attempts-{index}.json"
        run = flowat.run(workflow_name, parameters={"log_path": str(log_path)})
        assert run.status == "succeeded", run.error
        assert run.record.steps[0].attempts == 4
        chosen = {
            int(m.group(2)): float(m.group(3))
            for r in caplog.records
            if (m := _CHOSEN.search(r.getMessage())) and m.group(1) == run.run_id
        }
        assert sorted(chosen) == [1, 2, 3], caplog.text
        delays = [chosen[n] for n in (1, 2, 3)]
        # Each chosen delay lies within [0, the policy's exponential bound] ...
        assert all(0 <= d <= b for d, b in zip(delays, bounds, strict=True)), delays
        # ... and Temporal waited at least that long before the next attempt started.
        rows = json.loads(log_path.read_text())
        assert [r["attempt"] for r in rows] == [1, 2, 3, 4]
        for n in (1, 2, 3):
            gap = rows[n]["started"] - rows[n - 1]["failed"]
            assert gap >= delays[n - 1] - 0.005, (n, gap, delays)
        chosen_per_run.append(delays)
    assert chosen_per_run[0] != chosen_per_run[1]


def test_jitter_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = RetryPolicy(retries=5, initial_interval_seconds=1.0, backoff_coefficient=2.0)
    monkeypatch.setenv("FLOWAT_RETRY_JITTER", "off")
    assert [jittered_delay(policy, n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
