"""Writing a ``%%flowat step`` line back from settings: the inverse of :mod:`.header`.

The graph editor changes a step's settings and writes them back to the step's cell, so
notebook and graph never disagree. ``parse_step_header(format_step_header(h)) == h``
holds for every header the parser accepts; options at their default are left out.
"""

from __future__ import annotations

import shlex

from flowat_kernel.compiler.cells import STEP_MAGIC
from flowat_kernel.compiler.header import StepHeader
from flowat_kernel.spec import RetryPolicy, StepSpec

__all__ = ["format_duration", "format_step_header", "header_from_step", "step_line"]

_DEFAULT_TIMEOUT = StepSpec.model_fields["timeout_seconds"].default
_DEFAULT_CONCURRENCY = StepSpec.model_fields["concurrency"].default
_DEFAULT_RETRIES = RetryPolicy().retries


def format_duration(seconds: float) -> str:
    """The shortest exact form of ``seconds``: ``1h``, ``5m``, ``30s``, ``1.5s``, ``250ms``."""
    for unit, size in (("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and float(seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    if seconds < 1 and float(round(seconds * 1000, 6)).is_integer():
        return f"{round(seconds * 1000)}ms"
    return f"{seconds!r}s"


def _quote(text: str) -> str:
    return shlex.quote(text)


def format_step_header(header: StepHeader) -> str:
    """The words after ``%%flowat``: ``step NAME [options]`` (options at defaults omitted)."""
    words = ["step", _quote(header.name)]
    if header.workflow is not None:
        words += ["--workflow", _quote(header.workflow)]
        if header.workflow_version is not None:
            words += ["--version", str(header.workflow_version)]
    if header.action is not None:
        words += ["--action", _quote(header.action)]
    if header.logic in ("if", "switch", "set"):
        words.append(f"--{header.logic}")
    elif header.logic == "filter" and header.filter_items is not None:
        words += ["--filter", _quote(header.filter_items)]
    elif header.logic == "wait":
        if header.signal is not None:
            words += ["--wait-for", header.signal]
        elif header.wait_seconds is not None:
            words += ["--wait", format_duration(header.wait_seconds)]
    if header.after:
        words += ["--after", _quote(",".join(header.after))]
    if header.retries is not None:
        words += ["--retries", str(header.retries)]
    if header.timeout_seconds is not None:
        words += ["--timeout", format_duration(header.timeout_seconds)]
    for flag, on in (
        ("--local", header.local),
        ("--untrusted", header.untrusted),
        ("--allow-network", header.allow_network),
        ("--tool", header.tool),
    ):
        if on:
            words.append(flag)
    for secret in header.secrets:
        words += ["--secret", _quote(secret)]
    if header.when is not None:
        words += ["--when", _quote(header.when)]
    if header.merge:
        words.append("--merge")
    if header.foreach is not None:
        words += ["--foreach", _quote(header.foreach)]
        if header.concurrency is not None:
            words += ["--concurrency", str(header.concurrency)]
        if header.chunk is not None:
            words += ["--chunk", str(header.chunk)]
    for option, pairs in (("--in", header.map_in), ("--out", header.map_out)):
        for name, expression in pairs:
            words += [option, _quote(f"{name}={expression}")]
    if header.queue is not None:
        words += ["--queue", _quote(header.queue)]
    return " ".join(words)


def step_line(header: StepHeader) -> str:
    """The whole first line of the step's cell: ``%%flowat step NAME [options]``."""
    return f"{STEP_MAGIC} {format_step_header(header)}"


def header_from_step(step: StepSpec) -> StepHeader:
    """The header that compiles to ``step``'s settings (defaults left unset).

    Settings a header cannot express (a retry policy's intervals, say) keep the
    compiler's defaults.
    """
    logic = step.kind if step.kind not in ("code", "action", "workflow") else None
    return StepHeader(
        name=step.name,
        after=step.after,
        retries=None if step.retry.retries == _DEFAULT_RETRIES else step.retry.retries,
        timeout_seconds=None
        if step.timeout_seconds == _DEFAULT_TIMEOUT or (logic is not None and step.signal is None)
        else step.timeout_seconds,
        local=step.local,
        untrusted=step.untrusted,
        allow_network=step.allow_network,
        secrets=step.secrets,
        workflow=step.workflow,
        workflow_version=step.workflow_version,
        action=step.action,
        logic=logic,
        filter_items=step.items,
        wait_seconds=step.wait_seconds,
        signal=step.signal,
        when=step.when,
        merge=step.merge,
        foreach=step.foreach,
        concurrency=None
        if step.foreach is None or step.concurrency == _DEFAULT_CONCURRENCY
        else step.concurrency,
        chunk=step.chunk,
        map_in=tuple((m.name, m.expression) for m in step.map_in),
        map_out=tuple((m.name, m.expression) for m in step.map_out),
        queue=step.queue,
        tool=step.tool,
    )
