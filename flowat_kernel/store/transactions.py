"""The transaction plumbing every record mixin of :class:`~flowat_kernel.store.Store` uses.

The store is one class assembled from mixins, one per family of records
(``run_records``, ``audit_records``, ``access_records``, ``secret_records``,
``breaker_records``, ``trigger_records``). Each mixin holds the SQL of its tables and
reaches the database only through :meth:`Transactions.transaction` and
:meth:`Transactions.read`, which :class:`~flowat_kernel.store.Store` provides. The
mixins take and return plain values and frozen records, never sessions or rows, so no
module outside ``flowat_kernel.store`` needs SQLAlchemy or the table models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Executable, Row
from sqlalchemy.orm import Session

__all__ = ["Transactions"]

T = TypeVar("T")


class Transactions:
    """The two entry points a record mixin relies on (implemented by the store)."""

    def transaction(self, work: Callable[[Session], T], retry_conflicts: bool = False) -> T:
        """Provided by the store: run ``work`` in one transaction."""
        raise NotImplementedError

    def read(
        self, statement: Executable, parameters: dict[str, Any] | None = None
    ) -> list[Row[Any]]:
        """Provided by the store: one read-only statement outside a transaction."""
        raise NotImplementedError
