"""Every endpoint of the API, in one table (grouped by path for the HTTP servers)."""

from __future__ import annotations

from flowat_kernel.server import (
    api_admin,
    api_alerts,
    api_analytics,
    api_approvals,
    api_bundles,
    api_codec,
    api_compile,
    api_concurrency,
    api_dead_letters,
    api_invitations,
    api_queues,
    api_rate_limits,
    api_retention,
    api_run_actions,
    api_run_links,
    api_run_logs,
    api_runs,
    api_secrets,
    api_templates,
    api_triggers,
    api_workflows,
)
from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, endpoint

__all__ = ["ENDPOINTS", "by_path"]


@endpoint("GET", "/openapi.json", "public", "This OpenAPI document", tag="meta")
def openapi_document(call: Call) -> Reply:
    from flowat_kernel.server.openapi import openapi

    return 200, openapi(ENDPOINTS)


ENDPOINTS: list[Endpoint] = [
    openapi_document,
    *api_admin.ENDPOINTS[:2],
    *api_bundles.ENDPOINTS,  # before api_workflows: POST /workflows/import
    *api_workflows.ENDPOINTS,
    *api_runs.ENDPOINTS,
    *api_run_logs.ENDPOINTS,
    *api_triggers.ENDPOINTS,
    *api_alerts.ENDPOINTS,
    *api_concurrency.ENDPOINTS,
    *api_retention.ENDPOINTS,
    *api_admin.ENDPOINTS[2:],
    *api_secrets.ENDPOINTS,
    *api_invitations.ENDPOINTS,
    *api_run_links.ENDPOINTS,
    *api_compile.ENDPOINTS,
    *api_run_actions.ENDPOINTS,
    *api_dead_letters.ENDPOINTS,
    *api_analytics.ENDPOINTS,
    *api_templates.ENDPOINTS,
    *api_rate_limits.ENDPOINTS,
    *api_approvals.ENDPOINTS,
    *api_queues.ENDPOINTS,
    *api_codec.ENDPOINTS,
]


def by_path(endpoints: list[Endpoint] | None = None) -> dict[str, dict[str, Endpoint]]:
    """Endpoints grouped by path, then method."""
    grouped: dict[str, dict[str, Endpoint]] = {}
    for item in endpoints or ENDPOINTS:
        grouped.setdefault(item.path, {})[item.method] = item
    return grouped
