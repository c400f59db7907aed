"""The workflows and events of ``bench_burst.py``: what each mode runs, and its answers."""

from __future__ import annotations

from typing import Any


def event(i: int) -> dict[str, Any]:
    """The i-th small JSON event."""
    return {"id": i, "amount": float(i % 7) + 0.5, "source": "bench"}


def answer(i: int) -> dict[str, Any]:
    """What the two steps must return for event ``i``."""
    return {"id": i, "accepted": True}


def single_cells() -> list[Any]:
    from flowat_kernel.compiler import Cell

    return [
        Cell("payload = {}", 1, tags=("parameters",)),
        Cell(
            "%%flowat step parse --local\n"
            "order = {'id': payload['id'], 'amount': float(payload['amount'])}",
            2,
        ),
        Cell(
            "%%flowat step reply --local\n"
            "answer = {'id': order['id'], 'accepted': order['amount'] > 0}",
            3,
        ),
    ]


def batched_cells(concurrency: int, chunk: int | None = None) -> list[Any]:
    from flowat_kernel.compiler import Cell

    each = f"--local --concurrency {concurrency}" + (f" --chunk {chunk}" if chunk else "")
    return [
        Cell("events = []", 1, tags=("parameters",)),
        Cell(
            f"%%flowat step parse --foreach events {each}\n"
            "order = {'id': item['id'], 'amount': float(item['amount'])}",
            2,
        ),
        Cell(
            f"%%flowat step reply --foreach order {each}\n"
            "answer = {'id': item['id'], 'accepted': item['amount'] > 0}",
            3,
        ),
    ]


def looped_cells() -> list[Any]:
    """The batched workflow's steps as plain loops over ``events``: the ``looped`` mode."""
    from flowat_kernel.compiler import Cell

    return [
        Cell("events = []", 1, tags=("parameters",)),
        Cell(
            "%%flowat step parse --local\n"
            "order = [{'id': e['id'], 'amount': float(e['amount'])} for e in events]",
            2,
        ),
        Cell(
            "%%flowat step reply --local\n"
            "answer = [{'id': o['id'], 'accepted': o['amount'] > 0} for o in order]",
            3,
        ),
    ]
