"""FlowAt's expression language: a sandboxed subset of Python expressions.

Expressions map data between steps and decide Logic steps (``--if``, ``--switch``,
``--filter``, ``--when``, ``--foreach``, ``--set``). The syntax is Python's, so a cell
means the same in the notebook kernel and in the workflow. Evaluation uses simpleeval,
hardened: a whitelist of nodes, helpers (:data:`FUNCTIONS`) and methods; no attribute
reads, no imports; plain data only; deterministic operation, size and depth limits
(:class:`Limits`; values counted by their deep, logical size, so that shared
references cannot hide work), so it can run inside Temporal workflow code. See
``docs/expressions.md``.

Importing this package does no I/O and needs only the standard library and simpleeval.

Example::

    >>> from flowat_kernel import expressions
    >>> expressions.evaluate("sum(o['total'] for o in orders)", {"orders": [{"total": 2}]})
    2
"""

from flowat_kernel.expressions.assignments import parse_assignments, run_assignments
from flowat_kernel.expressions.errors import ExpressionError
from flowat_kernel.expressions.expression import Expression, evaluate, parse
from flowat_kernel.expressions.functions import FUNCTIONS
from flowat_kernel.expressions.limits import (
    DEFAULT_LIMITS,
    LimitExceeded,
    Limits,
    OperationMeter,
)

__all__ = [
    "DEFAULT_LIMITS",
    "FUNCTIONS",
    "Expression",
    "ExpressionError",
    "LimitExceeded",
    "Limits",
    "OperationMeter",
    "evaluate",
    "parse",
    "parse_assignments",
    "run_assignments",
]
