"""SQLAlchemy 2 typed ORM models of the domain store.

These rows stay inside ``callcenter.db``: repositories convert them to the frozen dataclasses of
``callcenter.domain`` before anything else sees them. Every timestamp is stored as UTC (naive in
the column, because SQLite has no time zone type) and comes back aware; pages convert to
Asia/Shanghai for display.

Schema changes go through Alembic (``callcenter/db/migrations``); ``tests/callcenter/
test_migrations.py`` checks the migrations produce exactly this metadata.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy import false as sa_false
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (stored naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON,
    }


class MerchantRow(Base):
    __tablename__ = "merchants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_number: Mapped[str] = mapped_column(String(15), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(400))
    district: Mapped[str] = mapped_column(String(100), default="", index=True)
    contact_person: Mapped[str] = mapped_column(String(100), default="")
    business_hours: Mapped[str] = mapped_column(String(40), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    phones: Mapped[list[MerchantPhoneRow]] = relationship(
        back_populates="merchant", cascade="all, delete-orphan", lazy="selectin",
        order_by="MerchantPhoneRow.position",
    )


class MerchantPhoneRow(Base):
    """One phone of a merchant. The same number may belong to several merchants (a chain's
    head office, a shared bookkeeper), which is why caller-ID lookup can be ambiguous."""

    __tablename__ = "merchant_phones"
    __table_args__ = (UniqueConstraint("merchant_id", "phone"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    merchant: Mapped[MerchantRow] = relationship(back_populates="phones")


class TerminalRow(Base):
    __tablename__ = "terminals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    model: Mapped[str] = mapped_column(String(64))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    install_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="active")


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str] = mapped_column(String(10), default="zh-CN")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AgentRow(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_number: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    interface: Mapped[str] = mapped_column(String(100), unique=True)
    queues: Mapped[list[str]] = mapped_column(JSON, default=list)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    # NULL: the configured template ([ami] state_interface); "": no StateInterface
    state_interface: Mapped[str | None] = mapped_column(String(100), nullable=True)


class QueueRow(Base):
    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title_zh: Mapped[str] = mapped_column(String(100))
    title_en: Mapped[str] = mapped_column(String(100))
    strategy: Mapped[str] = mapped_column(String(20), default="rrmemory")
    service_level_s: Mapped[int] = mapped_column(Integer, default=20)
    wrapup_s: Mapped[int] = mapped_column(Integer, default=5)


class CallRow(Base):
    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_caller_started", "caller_number", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    linked_id: Mapped[str] = mapped_column(String(64), unique=True)
    unique_id: Mapped[str] = mapped_column(String(64), default="")
    caller_number: Mapped[str] = mapped_column(String(40), default="")
    merchant_id: Mapped[int | None] = mapped_column(
        ForeignKey("merchants.id"), nullable=True, index=True
    )
    merchant_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    ivr_path: Mapped[str] = mapped_column(String(400), default="")
    intent: Mapped[str] = mapped_column(String(32), default="")
    lang: Mapped[str] = mapped_column(String(8), default="")
    queue: Mapped[str] = mapped_column(String(64), default="", index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    agent_number: Mapped[str] = mapped_column(String(20), default="", index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # 0006_reports: indexed, the report cells are refreshed from the calls that ended lately.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    wait_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    talk_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    disposition: Mapped[str | None] = mapped_column(String(32), nullable=True)
    wrapup_note: Mapped[str] = mapped_column(String(400), default="")
    satisfaction: Mapped[int | None] = mapped_column(Integer, nullable=True)


class CallEventRow(Base):
    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    linked_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AgentStateLogRow(Base):
    """Every agent state transition, with the reason Asterisk itself forgets."""

    __tablename__ = "agent_state_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_number: Mapped[str] = mapped_column(String(20), index=True)
    interface: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    old_state: Mapped[str] = mapped_column(String(20))
    new_state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(40), default="")
    cause: Mapped[str] = mapped_column(String(40), default="")


class RecordingRow(Base):
    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    linked_id: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(String(400))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    size_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # 0007_recordings: the storage pipeline's stage (recording.pipeline_state) and what the
    # index step copies from the call, so a search reads one table (recording.search).
    stage: Mapped[str] = mapped_column(String(16), default="new", server_default="new")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="", server_default="")
    stored_path: Mapped[str] = mapped_column(String(400), default="", server_default="")
    codec: Mapped[str] = mapped_column(String(16), default="", server_default="")
    channels: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    key_id: Mapped[str] = mapped_column(String(16), default="", server_default="")
    plain_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sha256: Mapped[str] = mapped_column(String(64), default="", server_default="")
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    peaks: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    agent_number: Mapped[str] = mapped_column(String(20), default="", server_default="")
    queue: Mapped[str] = mapped_column(String(64), default="", server_default="")
    merchant_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    caller_number: Mapped[str] = mapped_column(String(40), default="", server_default="")
    indexed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # 0011_recording_lease: which pipeline worker holds the row, until when (a worker that
    # died leaves a lease that runs out; another then resumes the row)
    claimed_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        # keyset pagination: newest first, alone and after each equality filter
        Index("ix_recordings_started_id", "started_at", "id"),
        # linked_id rides along so "an agent's complaint calls" is an index-only scan joined
        # to the complaints (bench/recordings.py: 367 ms p95 at 2M rows without it)
        Index("ix_recordings_agent_started", "agent_number", "started_at", "id",
              postgresql_include=["linked_id"]),
        Index("ix_recordings_agent_duration", "agent_number", "duration_s", "id"),
        Index("ix_recordings_merchant_started", "merchant_id", "started_at", "id"),
        Index("ix_recordings_queue_started", "queue", "started_at", "id"),
        Index("ix_recordings_caller_started", "caller_number", "started_at", "id"),
        Index("ix_recordings_duration_id", "duration_s", "id"),
        Index("ix_recordings_stage_retry", "stage", "retry_at"),
    )


class RecordingPurgeRow(Base):
    """0007_recordings: what the retention purge deleted (the recording row is gone after)."""

    __tablename__ = "recording_purges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_token: Mapped[str] = mapped_column(String(40))
    linked_id: Mapped[str] = mapped_column(String(64), index=True)
    stored_path: Mapped[str] = mapped_column(String(400))
    size_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reason: Mapped[str] = mapped_column(String(200))
    purged_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class TaskRow(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_number: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    linked_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    agent_number: Mapped[str] = mapped_column(String(20), default="")
    terminal_serial: Mapped[str] = mapped_column(String(64), default="")
    product_model: Mapped[str] = mapped_column(String(64), default="")
    address: Mapped[str] = mapped_column(String(400), default="")
    site_phone: Mapped[str] = mapped_column(String(20), default="")
    business_hours: Mapped[str] = mapped_column(String(40), default="")
    contact_person: Mapped[str] = mapped_column(String(100), default="")
    description: Mapped[str] = mapped_column(String(400), default="")
    engineer: Mapped[str] = mapped_column(String(100), default="")
    appointment_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancel_reason: Mapped[str] = mapped_column(String(200), default="")
    external_id: Mapped[str] = mapped_column(String(64), default="")
    delivery_state: Mapped[str] = mapped_column(String(20), default="local")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # 0002_business: the wrap-up disposition that created the record (tech_support and forwarded
    # share kind "consultation") and the department a forwarded call went to.
    disposition: Mapped[str] = mapped_column(String(32), default="", server_default="")
    department: Mapped[str] = mapped_column(String(64), default="", server_default="")


class TaskEventRow(Base):
    """Status history of a task (who changed what, when): the 3-hour progress clock reads it."""

    __tablename__ = "task_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(String(400), default="")
    source_event_id: Mapped[str | None] = mapped_column(String(80), nullable=True, unique=True)


class OutboxRow(Base):
    """Transactional outbox: written in the same transaction as the task version it carries."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_next", "state", "next_attempt_at"),
        # 0003: the rows still to deliver, in claim order (see that migration).
        Index("ix_outbox_due", "next_attempt_at", "id",
              postgresql_where=text("state IN ('pending', 'in_flight')"),
              sqlite_where=text("state IN ('pending', 'in_flight')")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    task_version: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    # 0002_business: the worker holding the row while it is in flight (its lease ends at
    # next_attempt_at), when delivery is given up (NULL: created_at + 3 days) and when it was.
    lease_owner: Mapped[str] = mapped_column(String(64), default="", server_default="")
    give_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class TaskCallRow(Base):
    """0002_business: every call a task was recorded or linked from. One business record per
    call: the unique linked id makes a second wrap-up of the same call fail in the database."""

    __tablename__ = "task_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    linked_id: Mapped[str] = mapped_column(String(64), unique=True)
    agent_number: Mapped[str] = mapped_column(String(20), default="")
    relation: Mapped[str] = mapped_column(String(10))  # "origin" or "linked"
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaskCounterRow(Base):
    """0002_business: last sequence number per task-number prefix and local day
    (``RP20261122`` → 7 means RP20261122-0007 was the last one)."""

    __tablename__ = "task_counters"

    key: Mapped[str] = mapped_column(String(16), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class ComplaintRow(Base):
    __tablename__ = "complaints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"), nullable=True)
    linked_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    complaint_class: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(400))
    handling: Mapped[str] = mapped_column(String(400), default="")
    result: Mapped[str] = mapped_column(String(400), default="")
    amount_yuan: Mapped[float | None] = mapped_column(Float, nullable=True)
    media_exposure: Mapped[bool] = mapped_column(Boolean, default=False)
    escalation_tier: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    temporary_solution_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # 0002_business: when the second line (business management department) had the ticket.
    second_line_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CallbackRow(Base):
    __tablename__ = "callbacks"
    __table_args__ = (Index("ix_callbacks_status_planned_for", "status", "planned_for"),
                      Index("ix_callbacks_queue_place_state", "queue", "place_state"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaints.id"), nullable=True)
    purpose: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="planned")
    planned_for: Mapped[date] = mapped_column(Date)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    agent_number: Mapped[str] = mapped_column(String(20), default="")
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[str] = mapped_column(String(400), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # 0009_callbacks: the kind, where it came from (unique: planning twice plans once), the
    # 2-day clock's start, unreachable attempts and the next one, completion and review.
    kind: Mapped[str] = mapped_column(String(24), default="service", server_default="service")
    source_ref: Mapped[str | None] = mapped_column(String(80), nullable=True, unique=True)
    pending_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reviewed_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # 0013: a queue call-back's place (callbacks/keep_place.py) and its claim.
    queue: Mapped[str | None] = mapped_column(String(24), nullable=True)
    queue_arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    queue_priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    queue_position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    callback_number: Mapped[str] = mapped_column(String(20), default="", server_default="")
    place_state: Mapped[str | None] = mapped_column(String(12), nullable=True)
    place_tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claimed_by: Mapped[str] = mapped_column(String(20), default="", server_default="")
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class QaReviewRow(Base):
    __tablename__ = "qa_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    linked_id: Mapped[str] = mapped_column(String(64), index=True)
    agent_number: Mapped[str] = mapped_column(String(20), index=True)
    reviewer: Mapped[str] = mapped_column(String(64))
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    passed: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str] = mapped_column(String(400), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # 0007_recordings: the score sheet's form and version, the assignment it answers, the
    # version chain (an admin correction is a new row superseding the old), the agent's answer.
    assignment_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    recording_token: Mapped[str] = mapped_column(String(40), default="", server_default="")
    form_version: Mapped[str] = mapped_column(String(40), default="", server_default="")
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    supersedes_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    correction_reason: Mapped[str] = mapped_column(String(400), default="", server_default="")
    agent_answer: Mapped[str] = mapped_column(String(20), default="", server_default="")
    agent_answer_note: Mapped[str] = mapped_column(String(400), default="", server_default="")
    agent_answer_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class QaAssignmentRow(Base):
    """0007_recordings: a recorded call drawn for quality inspection and who reviews it."""

    __tablename__ = "qa_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[int] = mapped_column(Integer, unique=True)
    recording_token: Mapped[str] = mapped_column(String(40))
    linked_id: Mapped[str] = mapped_column(String(64), index=True)
    agent_number: Mapped[str] = mapped_column(String(20), index=True)
    reviewer: Mapped[str] = mapped_column(String(64), index=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    state: Mapped[str] = mapped_column(String(16), default="assigned")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookEventRow(Base):
    """Inbound webhook events already applied, so a replayed event has no second effect."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(80), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SessionRow(Base):
    """0005_access_control: one logged-in browser. ``id`` is the SHA-256 of the cookie's random
    token (a copy of the table gives nobody a usable cookie); a session ends when it is revoked
    (logout, password change, account disabled), idle too long or older than a shift."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    remote: Mapped[str] = mapped_column(String(64), default="")


class AuditRow(Base):
    """0005_access_control: who did what to what, when (impersonation, listening, playback,
    account changes). Written once, never updated."""

    __tablename__ = "audit_log"
    # 0011_recording_lease: "who did what to this target", e.g. who heard a recording (plays
    # are audit entries with the recording's token as target: recording.ports.access_entry)
    __table_args__ = (Index("ix_audit_log_target_at", "target", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str] = mapped_column(String(100), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RuntimeSettingRow(Base):
    """0010: a setting an administrator changed in ``/admin``
    (``callcenter.runtime_settings``); absent keys keep the files' values."""

    __tablename__ = "runtime_settings"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UnsavedWrapupRow(Base):
    """0010: a call whose wrap-up its agent has not saved yet (the desk's
    list of unsaved wrap-ups), and until when after-call work holds the agent for it
    (``held_until``, None when not held), so that a restart loses neither."""

    __tablename__ = "unsaved_wrapups"

    agent_number: Mapped[str] = mapped_column(String(20), primary_key=True)
    linked_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    interface: Mapped[str] = mapped_column(String(100), default="")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ReportCellRow(Base):
    """0006_reports: the KPI tally of the calls that arrived in one 15-minute interval, per
    queue and agent (``callcenter.reports.kpi.Tally``: one column per counter). Maintained by
    the report refresher (``callcenter/reports_store.py``) as calls end; every report is a sum
    of these rows, never a scan of ``calls``."""

    __tablename__ = "report_cells"
    __table_args__ = (Index("ix_report_cells_day", "day", "queue", "agent_number"),)

    start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    queue: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_number: Mapped[str] = mapped_column(String(20), primary_key=True)
    day: Mapped[date] = mapped_column(Date)  # the local day of ``start``
    calls: Mapped[int] = mapped_column(Integer, default=0)
    ivr_only: Mapped[int] = mapped_column(Integer, default=0)
    offered: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    abandoned: Mapped[int] = mapped_column(Integer, default=0)
    short_abandoned: Mapped[int] = mapped_column(Integer, default=0)
    answered_in_sl: Mapped[int] = mapped_column(Integer, default=0)
    wait_answered_s: Mapped[float] = mapped_column(Float, default=0.0)
    wait_abandoned_s: Mapped[float] = mapped_column(Float, default=0.0)
    talk_s: Mapped[float] = mapped_column(Float, default=0.0)
    acw_s: Mapped[float] = mapped_column(Float, default=0.0)
    transferred: Mapped[int] = mapped_column(Integer, default=0)
    wrapped_up: Mapped[int] = mapped_column(Integer, default=0)
    surveyed: Mapped[int] = mapped_column(Integer, default=0)
    satisfaction_sum: Mapped[int] = mapped_column(Integer, default=0)
    satisfied: Mapped[int] = mapped_column(Integer, default=0)
    contacts: Mapped[int] = mapped_column(Integer, default=0)
    repeats: Mapped[int] = mapped_column(Integer, default=0)
    callback_requested: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ReportCellWaitRow(Base):
    """0015_report_waits: how many answered calls of a KPI cell waited ``wait_ms`` (whole
    milliseconds, rounded up). The service level of any threshold T is the sum of ``answered``
    with ``wait_ms <= T`` (``callcenter/reports_store.py``), so a threshold changed at run time
    applies to every stored call (docs/kpi.md)."""

    __tablename__ = "report_cell_waits"
    __table_args__ = (Index("ix_report_cell_waits_day", "day", "queue", "agent_number"),)

    start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    queue: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_number: Mapped[str] = mapped_column(String(20), primary_key=True)
    wait_ms: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    answered: Mapped[int] = mapped_column(Integer, default=0)


class ReportStateRow(Base):
    """0006_reports: the refresher's high-water marks (``cells``: calls that ended before it
    are in ``report_cells``) and the last daily report written."""

    __tablename__ = "report_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class RosterRow(Base):
    """0006_reports: a month's roster as its CSV (``callcenter.reports.roster.to_csv``) and
    the approved leave it was built with (CSV ``agent,first,last,approved_by``)."""

    __tablename__ = "rosters"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # "2027-01"
    roster_csv: Mapped[str] = mapped_column(Text)
    leave_csv: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(64), default="")


class RosterSwapRow(Base):
    """0006_reports: a shift swap (调班) between two agents on one day, asked by one of them
    and approved or rejected by a team lead (supervisor)."""

    __tablename__ = "roster_swaps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), index=True)
    agent_a: Mapped[str] = mapped_column(String(20))
    agent_b: Mapped[str] = mapped_column(String(20))
    day: Mapped[date] = mapped_column(Date)
    requested_by: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(10), default="pending")
    decided_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# --------------------------------------------------------------------------- speech (0008)

# The substring indexes of transcript search live outside the ORM (a SQLite FTS5 virtual table
# with the trigram tokenizer and its shadow tables; a PostgreSQL pg_trgm GIN index): the
# migration creates them, and the models-match-migrations test leaves these names out.
SEARCH_INDEX_NAMES = frozenset({
    "transcripts_fts", "transcripts_fts_data", "transcripts_fts_idx", "transcripts_fts_content",
    "transcripts_fts_docsize", "transcripts_fts_config", "ix_transcripts_search_trgm",
})


class TranscriptionJobRow(Base):
    """One recording to transcribe: the worker's durable queue (survives restarts)."""

    __tablename__ = "transcription_jobs"
    __table_args__ = (Index("ix_transcription_jobs_claim", "state", "priority", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), unique=True)
    linked_id: Mapped[str] = mapped_column(String(64), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(String(400), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TranscriptRow(Base):
    """The words of one channel of one recording, and the text the search index reads."""

    __tablename__ = "transcripts"
    __table_args__ = (UniqueConstraint("recording_id", "channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    linked_id: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    language: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    search_text: Mapped[str] = mapped_column(Text)
    words: Mapped[list[Any]] = mapped_column(JSON)
    duration_s: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SpeechAlertRow(Base):
    """Keywords heard in a call: an alert to supervisors, and the call marked for QA
    (``qa_pending`` until a reviewer takes it)."""

    __tablename__ = "speech_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    linked_id: Mapped[str] = mapped_column(String(64), index=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"))
    keywords: Mapped[list[Any]] = mapped_column(JSON)
    hits: Mapped[list[Any]] = mapped_column(JSON)
    qa_pending: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TeamMemberRow(Base):
    """0012_teams: the team (班组) an account belongs to. A team lead sees the reports,
    staffing and roster of the agents in its own team; agents and team leads of one team share
    ``team``."""

    __tablename__ = "team_members"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    team: Mapped[str] = mapped_column(String(40), index=True)
