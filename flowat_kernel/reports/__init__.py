"""Run reports: a run as an executed notebook in papermill's output format.

:func:`report_notebook` builds one from a run's record and its version's spec;
:func:`fill_notebook` writes a run's outputs into an existing notebook (what the
papermill engine does with the notebook it was given). Nothing is loaded from the
artifact store, and step outputs come from run records, where revealed secrets are
already masked.
"""

from flowat_kernel.reports._build import parameters_source, report_notebook, step_header
from flowat_kernel.reports._fill import fill_notebook, step_name

__all__ = ["fill_notebook", "parameters_source", "report_notebook", "step_header", "step_name"]
