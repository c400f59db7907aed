"""The rate limit of audited refusals, window by window (a clock the test moves)."""

from __future__ import annotations

from flowat_kernel.access.audit import DeniedAttempts


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_source_gets_a_few_entries_then_one_summary_per_window() -> None:
    clock = Clock()
    denied = DeniedAttempts(per_source=3, window=60.0, total=100, clock=clock)
    verdicts = [denied.verdict(["credential:a"]) for _ in range(10)]
    assert verdicts == ["logged"] * 3 + ["summarized"] + ["dropped"] * 6
    # Another source is counted on its own.
    assert denied.verdict(["credential:b"]) == "logged"
    clock.now += 60.0
    assert denied.verdict(["credential:a"]) == "logged"


def test_an_address_caps_made_up_credentials_and_the_total_caps_everything() -> None:
    clock = Clock()
    denied = DeniedAttempts(per_source=2, window=60.0, total=5, clock=clock)
    verdicts = [denied.verdict([f"credential:{n}", "address:x"]) for n in range(6)]
    assert verdicts == ["logged", "logged", "summarized", "dropped", "dropped", "dropped"]
    assert [denied.verdict([f"address:{n}"]) for n in range(4)] == [
        "logged",
        "logged",
        "dropped",
        "dropped",
    ]
    clock.now += 61.0
    assert denied.verdict(["address:x"]) == "logged"
