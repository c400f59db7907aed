"""SQLAlchemy 2 table models of the metadata store.

The schema itself is owned by the Alembic migrations in ``migrations/versions``; these
models must match them (a test compares the two).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ApiKeyRow",
    "ArtifactChunkRow",
    "ArtifactRow",
    "AuditRow",
    "Base",
    "CircuitBreakerRow",
    "ConcurrencyLimitRow",
    "DeadLetterRow",
    "InvitationRow",
    "MembershipRow",
    "OrganizationRow",
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


class Base(DeclarativeBase):
    """Declarative base of FlowAt's tables."""


class WorkflowRow(Base):
    """A named workflow of one owner; its content lives in versions."""

    __tablename__ = "workflows"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_workflows_owner_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VersionRow(Base):
    """An immutable version: number per workflow, content hash, canonical spec JSON."""

    __tablename__ = "workflow_versions"
    __table_args__ = (
        UniqueConstraint("workflow_id", "number", name="uq_versions_workflow_number"),
        UniqueConstraint("workflow_id", "spec_hash", name="uq_versions_workflow_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    spec_hash: Mapped[str] = mapped_column(String(80))
    spec: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128))


class RunRow(Base):
    """One execution of a version."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_workflow_status", "workflow_id", "status"),
        Index("ix_runs_owner_created", "owner", "created_at"),
        Index("ix_runs_created", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("workflow_versions.id"))
    version_number: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(32))
    parameters: Mapped[dict[str, object]] = mapped_column(JSON)
    error: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    temporal_workflow_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: The task queue the run was started on (None: recorded before FlowAt kept it).
    task_queue: Mapped[str | None] = mapped_column(String(255), nullable=True)


class StepRunRow(Base):
    """One step of one run: state, attempts, timings, error and exported values."""

    __tablename__ = "step_runs"
    __table_args__ = (UniqueConstraint("run_id", "step", name="uq_step_runs_run_step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(128))
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    error: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    outputs: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    logs: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: What the step showed, as notebook output dicts (masked).
    display: Mapped[list[dict[str, object]] | None] = mapped_column(JSON, nullable=True)


class SecretRow(Base):
    """One secret: its value sealed with envelope encryption, never in clear.

    ``nonce``, ``ciphertext`` and ``tag`` are the value under its data key;
    ``wrapped_key`` is the data key under the master key ``key_id``.
    """

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_secrets_owner_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(String(64), index=True)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    tag: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128))
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    rotated_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SecretEventRow(Base):
    """History metadata of a secret (set, rotated, deleted): when and by whom, no value."""

    __tablename__ = "secret_events"
    __table_args__ = (Index("ix_secret_events_owner_name", "owner", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))


class SecretUsageRow(Base):
    """Which workflows revealed a secret, and when last."""

    __tablename__ = "secret_usage"

    owner: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    workflow: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VaultKeyRow(Base):
    """A vault-managed data key (for the Temporal payload codec), wrapped by a master key."""

    __tablename__ = "vault_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[str] = mapped_column(String(64), index=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CircuitBreakerRow(Base):
    """The shared state of one circuit breaker (a connector and a target host)."""

    __tablename__ = "circuit_breakers"

    connector: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    failures: Mapped[int] = mapped_column(Integer)
    openings: Mapped[int] = mapped_column(Integer)
    open_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeadLetterRow(Base):
    """A step that exhausted its retries: its sealed input, its error and its context."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_owner_status", "owner", "status"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    workflow: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(128))
    sealed_task: Mapped[bytes] = mapped_column(LargeBinary)
    error: Mapped[dict[str, object]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    redrive_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


# -- access and triggers (migration 0004); ``owner`` is the organization's slug --------


class OrganizationRow(Base):
    """An organization: every workflow, run, secret and trigger belongs to one."""

    __tablename__ = "organizations"

    slug: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    personal: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: The organization's egress policy (``auto``, ``open``, ``public``); ``None``
    #: follows the installation's ``FLOWAT_EGRESS`` (migration 0007).
    egress: Mapped[str | None] = mapped_column(String(16), nullable=True)


class UserRow(Base):
    """A person (or service) that can be a member of organizations."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MembershipRow(Base):
    """A user's role in an organization."""

    __tablename__ = "memberships"

    owner: Mapped[str] = mapped_column(
        ForeignKey("organizations.slug", ondelete="CASCADE"), primary_key=True
    )
    user: Mapped[str] = mapped_column(
        ForeignKey("users.name", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiKeyRow(Base):
    """An API key: only its SHA-256 hash is stored, never the key."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_owner", "owner"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    user: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    workflows: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    replaced_by: Mapped[str | None] = mapped_column(String(32), nullable=True)


class AuditRow(Base):
    """One audited action: who did what to which object, when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_owner_at", "owner", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(255))
    detail: Mapped[dict[str, object]] = mapped_column(JSON)


class WebhookRow(Base):
    """A workflow's trigger URL: the token is stored as a hash; the signing key in the vault."""

    __tablename__ = "webhooks"
    __table_args__ = (
        Index("ix_webhooks_owner", "owner"),
        UniqueConstraint("token_hash", name="uq_webhooks_token_hash"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    workflow: Mapped[str] = mapped_column(String(128))
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    token_hint: Mapped[str] = mapped_column(String(16))
    signed: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128))
    last_delivery_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    #: Batching (``NULL``: one run per delivery): at most this many events per run ...
    batch_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: ... gathered for at most this long after the first one.
    batch_window_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)


class WebhookDeliveryRow(Base):
    """A delivery id seen recently, for duplicate suppression."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_received_at", "received_at"),)

    webhook_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: A batched event: its index in the run's ``events`` (``NULL``: a run of its own).
    batch_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: A batched event's own outcome: queued, succeeded, failed, cancelled, timed_out.
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)


class ScheduleRow(Base):
    """A Temporal Schedule FlowAt created, and the organization it belongs to."""

    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_owner", "owner"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    workflow: Mapped[str] = mapped_column(String(128))
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    spec: Mapped[dict[str, object]] = mapped_column(JSON)
    parameters: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128))


class WorkerRow(Base):
    """A shared worker process: its task queue and when it was last seen alive."""

    __tablename__ = "workers"
    __table_args__ = (Index("ix_workers_queue_seen", "task_queue", "seen_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_queue: Mapped[str] = mapped_column(String(255))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AlertRow(Base):
    """An alert: what to do when a run of a workflow (or of any, ``NULL``) ends so."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_owner_workflow", "owner", "workflow"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    workflow: Mapped[str | None] = mapped_column(String(128), nullable=True)
    event: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(2048))
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128))


class AlertDeliveryRow(Base):
    """One alert for one run and event: at most one row, so at most one delivery."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", "run_id", "event", name="uq_alert_deliveries_once"),
        Index("ix_alert_deliveries_run", "run_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    handler_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConcurrencyLimitRow(Base):
    """How many runs of a workflow (or, ``workflow=''``, of each workflow) may run at once."""

    __tablename__ = "concurrency_limits"

    owner: Mapped[str] = mapped_column(String(128), primary_key=True)
    #: The workflow's name; ``''`` is the organization's default.
    workflow: Mapped[str] = mapped_column(String(128), primary_key=True)
    max_concurrent_runs: Mapped[int] = mapped_column(Integer)
    #: ``queue``, ``skip`` or ``cancel-oldest``.
    when_full: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(128))


class RunAdmissionRow(Base):
    """A run waiting for a slot under its workflow's concurrency limit (FIFO by ``seq``)."""

    __tablename__ = "run_admissions"
    __table_args__ = (Index("ix_run_admissions_workflow_seq", "workflow_id", "seq"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    workflow_id: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    #: The run this one cancelled to make room (``cancel-oldest``), if any.
    evicts: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: When the waiting workflow last asked: a waiter silent for long loses its place.
    polled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ArtifactRow(Base):
    """An artifact kept in the database (``FLOWAT_ARTIFACTS_URL=database``): its size."""

    __tablename__ = "artifacts"

    #: The artifact's reference, e.g. ``runs/RUN/STEP/NAME.parquet``.
    reference: Mapped[str] = mapped_column(String(1024), primary_key=True)
    #: The sealed bytes stored, over all chunks.
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    chunk_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ArtifactChunkRow(Base):
    """One chunk (4 MiB, the last shorter) of a sealed artifact's bytes, in order."""

    __tablename__ = "artifact_chunks"

    reference: Mapped[str] = mapped_column(
        String(1024), ForeignKey("artifacts.reference", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class RetentionPolicyRow(Base):
    """How long runs of a workflow (or, ``workflow=''``, of the organization) are kept."""

    __tablename__ = "retention_policies"

    owner: Mapped[str] = mapped_column(String(128), primary_key=True)
    #: The workflow's name; ``''`` is the organization's default.
    workflow: Mapped[str] = mapped_column(String(128), primary_key=True)
    days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    keep: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(128))


class RetentionLeaseRow(Base):
    """A periodic job's lease: who runs it until when, and when it last finished."""

    __tablename__ = "retention_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DeletedRunRow(Base):
    """A deleted run's id, kept a while so files written for it later are found."""

    __tablename__ = "deleted_runs"
    __table_args__ = (Index("ix_deleted_runs_deleted_at", "deleted_at"),)

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    deleted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RateLimitRow(Base):
    """A connector host's rate limit in one organization (``connector='*'``: any connector)."""

    __tablename__ = "rate_limits"

    owner: Mapped[str] = mapped_column(String(128), primary_key=True)
    connector: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    per_second: Mapped[int | None] = mapped_column(Integer, nullable=True)
    concurrent: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(128))
    #: Written by every admission: the row lock that serialises admissions to the host.
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RateLimitLeaseRow(Base):
    """One admitted call under a rate limit: in flight until ``finished_at``."""

    __tablename__ = "rate_limit_leases"
    __table_args__ = (Index("ix_rate_limit_leases_key", "owner", "connector", "host"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    connector: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: A worker that died mid-call frees its slot at this time.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ApprovalLinkRow(Base):
    """A signed approve/reject link for one ``--wait-for`` step of one run (single use)."""

    __tablename__ = "approval_links"
    __table_args__ = (Index("ix_approval_links_run", "run_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[str] = mapped_column(String(64))
    step: Mapped[str] = mapped_column(String(255))
    signal: Mapped[str] = mapped_column(String(128))
    #: The vault key (``vault_keys``) the link's signature was made with.
    key_id: Mapped[str] = mapped_column(String(64))
    reviewer: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    consumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decision: Mapped[str | None] = mapped_column(String(32), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class InvitationRow(Base):
    """An invitation to join an organization with a role (single use, expiring)."""

    __tablename__ = "invitations"
    __table_args__ = (
        Index("ix_invitations_owner", "owner"),
        UniqueConstraint("token_hash", name="uq_invitations_token_hash"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    user: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    #: SHA-256 of the token; the token itself is shown once, to the inviter.
    token_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
