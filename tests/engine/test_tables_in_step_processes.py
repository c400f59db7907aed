"""Tables and arrays pass between steps without the worker loading pandas or numpy.

A step's process writes its data frames as Parquet and its arrays as ``.npy`` (it has
pandas and numpy loaded); the worker seals those bytes as they are, and opens them for
the next step's process, which loads them. So a worker (and ``flowat run``, which runs
one in its own process) never imports pandas, numpy or pyarrow to pass them on; the
values still arrive exactly, on the real Temporal dev server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import flowat_kernel as flowat
from flowat_kernel.engine.artifact_formats import Prepared, load, materialize, prepare
from flowat_kernel.testing import cells

PRODUCE = """%%flowat step produce
import numpy as np
import pandas as pd
frame = pd.DataFrame({"n": range(1000), "name": [f"row {i}" for i in range(1000)]})
grid = np.asfortranarray(np.arange(12, dtype="float32").reshape(3, 4))
mixed = pd.DataFrame({"x": [1, "a", 2.5]})
"""

CONSUME = """%%flowat step consume
evens = frame[frame.n % 2 == 0].reset_index(drop=True)
total = int(frame.n.sum()) + int(grid.sum())
grid_back = grid.T.copy()
kinds = sorted({type(v).__name__ for v in mixed.x})
"""

#: Run in a fresh interpreter, so that nothing the test process loaded counts. The
#: analytics writer converts its spool to Parquet (with pyarrow) once a process has run
#: for 2 s, which a run on a slow machine does: another path than the tables', kept out
#: of this count by putting that conversion off.
RUN_AND_LIST_MODULES = """
import json, sys
from flowat_kernel.analytics import writer
writer.RECOVER_AFTER = 3600.0
_init = writer.EventWriter.__init__
def _later(self, *args, **options):
    options.setdefault("flush_seconds", 3600.0)
    _init(self, *args, **options)
writer.EventWriter.__init__ = _later
import flowat_kernel as flowat
result = flowat.run(sys.argv[1])
heavy = [m for m in ("pandas", "numpy", "pyarrow") if m in sys.modules]
print(json.dumps({"run_id": result.run_id, "status": result.status, "heavy": heavy}))
"""


@pytest.mark.usefixtures("temporal")
def test_a_worker_passes_tables_on_without_loading_them(workflow_name: str) -> None:
    flowat.publish(workflow_name, cells=cells(PRODUCE, CONSUME))
    done = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, workflow_name],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == "succeeded", (report, flowat.get_run(report["run_id"]).error)
    # The two steps' processes loaded pandas and numpy; the worker never did.
    assert report["heavy"] == []

    outputs = flowat.get_run(report["run_id"]).outputs
    produced, consumed = outputs["produce"], outputs["consume"]
    assert produced["frame"].equals(
        pd.DataFrame({"n": range(1000), "name": [f"row {i}" for i in range(1000)]})
    )
    assert np.array_equal(produced["grid"], np.arange(12, dtype="float32").reshape(3, 4))
    assert produced["grid"].dtype == np.float32
    assert consumed["total"] == sum(range(1000)) + sum(range(12))
    assert len(consumed["evens"]) == 500 and consumed["evens"].n.iloc[-1] == 998
    assert np.array_equal(consumed["grid_back"], np.arange(12).reshape(3, 4).T)
    # A frame Parquet cannot hold still passes on (pickled), with its values' types.
    assert consumed["kinds"] == ["float", "int", "str"]
    record = flowat.get_run(report["run_id"]).record
    formats = {
        name: value["ref"]["format"]
        for step in record.steps
        for name, value in (step.outputs or {}).items()
        if "ref" in value
    }
    assert formats["frame"] == "parquet" and formats["grid"] == "npy"
    assert formats["mixed"] == "pickle"
    assert record.steps[0].outputs["frame"]["ref"]["description"] == "DataFrame 1000x2"


def test_prepared_bytes_load_as_the_value_they_came_from() -> None:
    frame = pd.DataFrame({"a": [1.5, None], "b": ["x", "y"]})
    array = np.arange(6, dtype="int16").reshape(2, 3)
    made = prepare(frame)
    assert isinstance(made, Prepared) and made.format == "parquet"
    assert made.description == "DataFrame 2x2"
    assert load(made.format, made.data).equals(frame)
    grid = prepare(array)
    assert isinstance(grid, Prepared) and grid.format == "npy"
    assert np.array_equal(materialize({"g": grid})["g"], array)
    # A frame Parquet cannot hold travels pickled; what is neither stays as it is.
    mixed = pd.DataFrame({"x": [1, "a"]})
    pickled = prepare(mixed)
    assert isinstance(pickled, Prepared) and pickled.format == "pickle"
    assert load(pickled.format, pickled.data).equals(mixed)
    for value in (pd.DataFrame([[1, 2]]), np.array([object()]), {"a": 1}):
        assert prepare(value) is value
    plain = {"n": 1, "items": [1, 2]}
    assert materialize(plain) is plain


def test_a_forged_prepared_table_fails_to_load_instead_of_running_anything(tmp_path: Path) -> None:
    """Bytes claiming to be Parquet are parsed as Parquet, never unpickled."""
    import pickle

    class Boom:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (Path(tmp_path / "ran").write_text, ("ran",))

    forged = Prepared("parquet", pickle.dumps(Boom()), "DataFrame 1x1")
    with pytest.raises(Exception, match=r"(?i)parquet|magic|invalid"):
        forged.load()
    assert not (tmp_path / "ran").exists()


def test_the_store_keeps_a_frame_parquet_cannot_hold_as_a_pickle(tmp_path: Path) -> None:
    """In the worker's thread too (``FLOWAT_STEP_EXECUTOR=thread``): nothing half-written."""
    import os

    from flowat_kernel.engine.artifacts import ArtifactStore
    from flowat_kernel.vault.artifact_cipher import ArtifactCipher

    key = os.urandom(32)
    store = ArtifactStore(tmp_path / "artifacts", ArtifactCipher(lambda: ("k1", {"k1": key})))
    frames = {
        "mixed": pd.DataFrame({"x": [1, "a", 2.5]}),  # pyarrow: ArrowInvalid
        "complex": pd.DataFrame({"c": [1 + 2j, 3j]}),  # pyarrow: ArrowNotImplementedError
        "plain": pd.DataFrame({"n": [1, 2]}),
    }
    refs = {name: store.put("runs/r1/s", name, frame) for name, frame in frames.items()}
    assert {name: ref.format for name, ref in refs.items()} == {
        "mixed": "pickle",
        "complex": "pickle",
        "plain": "parquet",
    }
    for name, frame in frames.items():
        assert store.get(refs[name]).equals(frame)
    stored = sorted(p.name for p in (tmp_path / "artifacts" / "runs" / "r1" / "s").iterdir())
    assert stored == ["complex.pkl", "mixed.pkl", "plain.parquet"]  # no partial Parquet left
