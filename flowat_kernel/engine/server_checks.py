"""What FlowAt checks when it connects to a Temporal cluster (``FLOWAT_TEMPORAL_ADDRESS``).

The embedded dev server is FlowAt's own; a cluster is someone's deployment, so on
connect FlowAt asks it (``GetSystemInfo``, ``DescribeNamespace``) and refuses with what
to do when:

- the server is older than :data:`MINIMUM_SERVER` (Schedules, the ``report_stats``
  task-queue statistics of ``flowat queues``, the SDK's features);
- the server says it does not support Schedules;
- the namespace (``FLOWAT_TEMPORAL_NAMESPACE``) does not exist, or the credentials may
  not use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from flowat_kernel.errors import ConfigError

__all__ = ["MINIMUM_SERVER", "ServerInfo", "check_server", "parse_version"]

#: The oldest Temporal Server FlowAt runs on.
MINIMUM_SERVER = (1, 25, 0)


@dataclass(frozen=True)
class ServerInfo:
    """What the checks found: the server's version and the namespace's retention."""

    version: str
    namespace: str
    retention_days: float | None


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``1.32.0`` (or ``v1.32.0-rc1``) as a tuple; ``None`` when it is not a version."""
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    if found is None:
        return None
    major, minor, patch = (int(part) for part in found.groups())
    return major, minor, patch


async def check_server(
    client: Client, address: str, minimum: tuple[int, int, int] = MINIMUM_SERVER
) -> ServerInfo:
    """Check the server's version and capabilities and that the namespace exists.

    Raises:
        ConfigError: saying what is missing and what to do (the namespace to create,
            the minimum version to upgrade to).

    """
    service = client.workflow_service
    namespace = client.namespace
    info = await service.get_system_info(GetSystemInfoRequest())
    version = info.server_version or "unknown"
    parsed = parse_version(version)
    wanted = ".".join(str(part) for part in minimum)
    if parsed is not None and parsed < minimum:
        raise ConfigError(
            f"the Temporal server at {address} is version {version}; FlowAt needs {wanted} or "
            "later (Schedules, task-queue statistics): upgrade the cluster, or unset "
            "FLOWAT_TEMPORAL_ADDRESS to use the embedded server"
        )
    if info.HasField("capabilities") and not info.capabilities.supports_schedules:
        raise ConfigError(
            f"the Temporal server at {address} (version {version}) does not support "
            "Schedules, which FlowAt's schedules use: enable them on the cluster "
            f"(Temporal {wanted} or later has them)"
        )
    try:
        described = await service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ConfigError(
                f"the Temporal namespace {namespace!r} does not exist on {address}: create it "
                f"(`temporal operator namespace create --namespace {namespace} --address "
                f"{address}`) or set FLOWAT_TEMPORAL_NAMESPACE to one that exists"
            ) from None
        if exc.status == RPCStatusCode.PERMISSION_DENIED:
            raise ConfigError(
                f"the credentials FlowAt uses may not access Temporal namespace {namespace!r} "
                f"on {address} ({exc.message}): check FLOWAT_TEMPORAL_TLS_CERT and _KEY, or "
                "the namespace's permissions"
            ) from None
        raise
    retention = described.config.workflow_execution_retention_ttl
    days = retention.seconds / 86400 if described.HasField("config") else None
    return ServerInfo(version=version, namespace=namespace, retention_days=days)
