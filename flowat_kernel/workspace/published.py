"""The outcome of a publish, as the Python API, magics and CLI show it."""

from __future__ import annotations

import html
from dataclasses import dataclass

from flowat_kernel.store import VersionRecord

__all__ = ["Published"]


@dataclass(frozen=True)
class Published:
    """The outcome of a publish: the version, and whether it is new."""

    version: VersionRecord
    created: bool

    @property
    def number(self) -> int:
        """The version number."""
        return self.version.number

    def graph_lines(self) -> list[str]:
        """The graph as text: each step with the steps it waits for."""
        spec = self.version.spec
        upstream = spec.upstream_map()
        order = [s.name for s in spec.steps]
        lines = []
        for step in spec.steps:
            after = sorted(upstream[step.name], key=order.index)
            flags = " (local)" if step.local else ""
            lines.append(f"{step.name}{flags}" + (f"  <- {', '.join(after)}" if after else ""))
        return lines

    def summary(self) -> str:
        """One line: what was published."""
        state = "published" if self.created else "unchanged, still"
        return (
            f"{self.version.workflow}: {state} version {self.number} "
            f"({len(self.version.spec.steps)} steps, {self.version.spec_hash[:19]})"
        )

    def __str__(self) -> str:
        return "\n".join([self.summary(), *("  " + line for line in self.graph_lines())])

    def _repr_html_(self) -> str:
        rows = "".join(f"<li><code>{html.escape(line)}</code></li>" for line in self.graph_lines())
        from flowat_kernel.run_result import workflow_link

        link = workflow_link(self.version.workflow)
        return f"<p>{html.escape(self.summary())} ({link})</p><ul>{rows}</ul>"
