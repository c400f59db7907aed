"""What a worker process imports at start: nothing it only needs for some steps.

Memory is measured in benchmarks/worker_memory.py; this pins, without measuring, that
the modules every worker loads leave out the ones only an agent or structured-output step
needs (jsonschema and its format checkers hold about 20 MB), and that such a step still
validates (``ai.structured`` imports jsonschema on first use).
"""

from __future__ import annotations

import json
import subprocess
import sys

from flowat_kernel.ai.structured import check, schema_of

#: Loaded on first use only, never by starting a worker.
NOT_AT_START = ("jsonschema", "lark", "rfc3987_syntax", "pandas")


def test_the_worker_modules_leave_out_what_only_some_steps_need() -> None:
    code = (
        "import sys, json\n"
        "import flowat_kernel.engine.worker, flowat_kernel.engine.activities\n"
        "import flowat_kernel.engine.workflow\n"
        f"print(json.dumps([m for m in {list(NOT_AT_START)!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []


def test_structured_output_still_validates() -> None:
    schema = schema_of({"type": "object", "properties": {"n": {"type": "integer"}}})
    assert check('{"n": 3}', schema) == ({"n": 3}, None)
    value, why = check('{"n": "x"}', schema)
    assert value is None and why is not None and "$.n" in why
