"""JupyterLab widgets: the graph editor, the version diff and the run monitor.

Importing this package loads ipywidgets and ipycytoscape; the magics import it only
when a widget is asked for, so ``%load_ext flowat_kernel`` stays fast.
"""

from flowat_kernel.widgets.diff import SpecDiff, VersionDiff, diff_specs
from flowat_kernel.widgets.editor import GraphEditor
from flowat_kernel.widgets.monitor import RunMonitor, step_states

__all__ = ["GraphEditor", "RunMonitor", "SpecDiff", "VersionDiff", "diff_specs", "step_states"]
