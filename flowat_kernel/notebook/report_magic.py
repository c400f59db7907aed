"""``%flowat report RUN [-o OUT.ipynb]``: a run as an executed notebook, from a notebook."""

from __future__ import annotations

import argparse
import html
from typing import Any

__all__ = ["RunReport", "report"]


class RunReport:
    """The report notebook of a run (``.notebook``), and where it was written (``.path``)."""

    def __init__(self, notebook: Any, path: str | None) -> None:
        self.notebook = notebook
        self.path = path

    def __repr__(self) -> str:
        meta = self.notebook.metadata["flowat"]
        where = f" written to {self.path}" if self.path else ""
        return f"<report of run {meta['run_id']} ({meta['workflow']} v{meta['version']}){where}>"

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(repr(self))}</p>"


def report(magics: Any, args: argparse.Namespace) -> RunReport:
    """``%flowat report RUN [-o OUT.ipynb]``: build (and maybe write) the report."""
    from flowat_kernel import api

    return RunReport(api.report(args.run_id, args.output), args.output)
