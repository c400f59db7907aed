"""The graph stylesheet: states a person must tell apart at a glance."""

from __future__ import annotations

from flowat_kernel.widgets.style import STATE_COLOURS, STYLESHEET


def test_skipped_and_pending_steps_look_different() -> None:
    def rgb(colour: str) -> tuple[int, ...]:
        return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))

    pending, skipped = rgb(STATE_COLOURS["pending"]), rgb(STATE_COLOURS["skipped"])
    assert sum(abs(a - b) for a, b in zip(pending, skipped, strict=True)) >= 60
    styles = [r["style"] for r in STYLESHEET if r["selector"] == "node.state-skipped"]
    assert any(style.get("border-style") == "dashed" for style in styles)
    pending_styles = [r["style"] for r in STYLESHEET if r["selector"] == "node.state-pending"]
    assert not any("border-style" in style for style in pending_styles)
