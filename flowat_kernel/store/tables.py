"""SQLAlchemy 2 table models of the metadata store.

The schema itself is owned by the Alembic migrations in ``migrations/versions``; these
models must match them (a test compares the two).

The models are declared by domain, all on the one :class:`Base` (``table_base``):
``workflow_tables`` (workflows, versions), ``run_tables`` (runs, steps, dead letters,
approval links, workers), ``access_tables`` (organizations, users, memberships,
invitations, API keys, the audit log), ``vault_tables`` (secrets, vault keys),
``trigger_tables`` (webhooks, deliveries, schedules), ``alert_tables``, ``limit_tables``
(concurrency and rate limits, circuit breakers), ``retention_tables`` and
``artifact_tables``. This module imports every one of them, so that whichever table is
used, the mapper registry and ``Base.metadata`` hold them all; import the models from
here.
"""

from __future__ import annotations

from flowat_kernel.store.access_tables import (
    ApiKeyRow,
    AuditRow,
    InvitationRow,
    MembershipRow,
    OrganizationRow,
    UserRow,
)
from flowat_kernel.store.alert_tables import AlertDeliveryRow, AlertRow
from flowat_kernel.store.artifact_tables import ArtifactChunkRow, ArtifactRow
from flowat_kernel.store.limit_tables import (
    CircuitBreakerRow,
    ConcurrencyLimitRow,
    RateLimitLeaseRow,
    RateLimitRow,
    RunAdmissionRow,
)
from flowat_kernel.store.retention_tables import (
    DeletedRunRow,
    RetentionLeaseRow,
    RetentionPolicyRow,
)
from flowat_kernel.store.run_tables import (
    ApprovalLinkRow,
    DeadLetterRow,
    RunRow,
    StepRunRow,
    WorkerRow,
)
from flowat_kernel.store.table_base import Base
from flowat_kernel.store.trigger_tables import ScheduleRow, WebhookDeliveryRow, WebhookRow
from flowat_kernel.store.vault_tables import SecretEventRow, SecretRow, SecretUsageRow, VaultKeyRow
from flowat_kernel.store.workflow_tables import VersionRow, WorkflowRow

__all__ = [
    "AlertDeliveryRow",
    "AlertRow",
    "ApiKeyRow",
    "ApprovalLinkRow",
    "ArtifactChunkRow",
    "ArtifactRow",
    "AuditRow",
    "Base",
    "CircuitBreakerRow",
    "ConcurrencyLimitRow",
    "DeadLetterRow",
    "DeletedRunRow",
    "InvitationRow",
    "MembershipRow",
    "OrganizationRow",
    "RateLimitLeaseRow",
    "RateLimitRow",
    "RetentionLeaseRow",
    "RetentionPolicyRow",
    "RunAdmissionRow",
    "RunRow",
    "ScheduleRow",
    "SecretEventRow",
    "SecretRow",
    "SecretUsageRow",
    "StepRunRow",
    "UserRow",
    "VaultKeyRow",
    "VersionRow",
    "WebhookDeliveryRow",
    "WebhookRow",
    "WorkerRow",
    "WorkflowRow",
]
