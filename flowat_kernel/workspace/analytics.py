"""The workspace's analytics queries for remote callers: one organization's views only."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.analytics.scoped import QueryResult
    from flowat_kernel.workspace.services import Services

__all__ = ["AnalyticsUseCases"]


class AnalyticsUseCases:
    """Read-only SQL over the analytics views, scoped to the principal's organization."""

    services: Services
    principal: Principal

    def analytics_query(
        self, query: str, *, limit: int = 1000, timeout: float = 10.0
    ) -> QueryResult:
        """One SELECT over the views of this organization's runs (and the key's workflows).

        Needs ``runs:read``, as ``flowat analytics sql`` does. Like that command, the
        query sees only this organization's events (local or shared) and no file; see
        :mod:`flowat_kernel.analytics.scoped` for the limits.

        Raises:
            Forbidden: the principal may not read runs.
            FlowAtError: not one SELECT, DuckDB refused it, or it hit a limit.

        """
        from flowat_kernel.analytics.scoped import query_organization

        self.principal.require("runs:read")
        self.services.events.flush()
        return query_organization(
            self.services.settings.home / "analytics",
            self.principal.owner,
            query,
            workflows=self.principal.workflows,
            limit=limit,
            timeout=timeout,
            database_url=self.services.settings.database_url,
        )
