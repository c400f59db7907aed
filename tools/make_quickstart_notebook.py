import nbformat
from nbformat.v4 import new_notebook, new_code_cell, new_markdown_cell

cells = [
    new_markdown_cell("""# FlowAt quickstart

Try steps in cells as usual; `%%flowat step NAME` marks the cells that make up the
workflow. The cell tagged `parameters` (papermill's convention) gives the workflow's
typed inputs. Publish the steps as an immutable version and run it on Temporal — from
here with `%flowat run`, or from a terminal:

```
flowat publish notebooks/quickstart.ipynb --name quickstart
flowat run quickstart -p rows=5000 --json
```

The graph: `generate` → `clean` → (`per_sensor`, `high_share`) → `report`. The data
frame made in `generate` travels between steps through the artifact store (Parquet),
not through Temporal's history."""),
    new_code_cell("%load_ext flowat_kernel"),
    new_code_cell("rows = 1000\nseed = 7\nthreshold = 0.8", metadata={"tags": ["parameters"]}),
    new_code_cell("""%%flowat step generate
import numpy as np
import pandas as pd

_rng = np.random.default_rng(seed)  # private: not passed on
readings = pd.DataFrame({
    "sensor": _rng.integers(0, 4, rows),
    "value": _rng.random(rows).round(4),
})"""),
    new_code_cell("""%%flowat step clean
clean = readings[readings["value"] > 0].copy()
clean["high"] = clean["value"] > threshold"""),
    new_code_cell("""%%flowat step per_sensor
sensor_means = {
    f"sensor_{sensor}": round(float(mean), 4)
    for sensor, mean in clean.groupby("sensor")["value"].mean().items()
}"""),
    new_code_cell("""%%flowat step high_share
high_share = round(float(clean["high"].mean()), 4)"""),
    new_code_cell("""%%flowat step report
report = {
    "rows": int(len(clean)),
    "high_share": high_share,
    "sensor_means": sensor_means,
}
print(report)"""),
    new_markdown_cell("Exploration cells like this one are not part of the workflow."),
    new_code_cell("clean.describe()"),
    new_markdown_cell("Publish the steps as a version (no new version when nothing changed), then run it on Temporal with other parameters."),
    new_code_cell("published = %flowat publish quickstart --notebook quickstart.ipynb\npublished.number >= 1"),
    new_code_cell("run = %flowat run quickstart -p rows=500\nrun.status"),
    new_code_cell("run.outputs[\"report\"][\"report\"][\"rows\"]"),
]
nb = new_notebook(cells=cells, metadata={
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
})
nbformat.validate(nb)
nbformat.write(nb, "notebooks/quickstart.ipynb")
