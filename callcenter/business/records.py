"""What the business package reads and writes, as frozen dataclasses (no ORM rows escape).

A *business record* is the :class:`callcenter.domain.Task` a wrap-up creates: every answered call
with a known merchant gets one (a consultation is a closed record, a repair an open task), so
that the business management system (业务管理系统) sees everything the agent entered. The views
below add what the pages and the clocks need around a task.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from callcenter.domain import Complaint, Task


class CallRelation(StrEnum):
    ORIGIN = "origin"  # the call whose wrap-up created the record
    LINKED = "linked"  # a later call about the same task (the merchant chasing it)


class OutboxState(StrEnum):
    """An outbox row's delivery state (``outbox.state``)."""

    PENDING = "pending"  # waiting for its next attempt at next_attempt_at
    IN_FLIGHT = "in_flight"  # claimed by lease_owner until next_attempt_at (the lease)
    DELIVERED = "delivered"  # the business system acknowledged it (2xx, or 409 duplicate)
    DEAD = "dead"  # given up: rejected, or still failing after the retry window


@dataclass(frozen=True, slots=True)
class TaskCall:
    """One call recorded on a task."""

    linked_id: str
    agent_number: str
    relation: CallRelation
    at: datetime


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One entry of a task's history (status change, call linked, note)."""

    at: datetime
    status: str
    actor: str
    note: str
    source_event_id: str | None


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One version of one task on its way to the business system."""

    id: int
    task_id: int
    task_version: int
    idempotency_key: str
    payload: dict[str, Any]
    state: OutboxState
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    give_up_at: datetime
    delivered_at: datetime | None
    dead_at: datetime | None
    last_error: str
    lease_owner: str


@dataclass(frozen=True, slots=True)
class ComplaintCase:
    """A complaint with the task that carries it and the second-line clock's timestamp."""

    complaint: Complaint
    task_id: int | None
    task_number: str
    second_line_at: datetime | None
    merchant_name: str = ""


@dataclass(frozen=True, slots=True)
class TaskView:
    """A task with what the board shows around it (merchant, last progress, the call)."""

    task: Task
    disposition: str
    department: str
    merchant_number: str
    merchant_name: str
    district: str
    last_progress_at: datetime
    call_ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class CallSummary:
    """The parts of a call a task page shows; ``recording_tokens`` are opaque playback ids."""

    linked_id: str
    caller_number: str
    agent_number: str
    relation: CallRelation
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    ivr_path: str
    intent: str
    disposition: str | None
    wrapup_note: str
    recording_tokens: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TaskDetail:
    """Everything the task page shows."""

    view: TaskView
    calls: tuple[CallSummary, ...]
    events: tuple[TaskEvent, ...]
    deliveries: tuple[OutboxEntry, ...]
    complaint: ComplaintCase | None

    def involves_agent(self, agent_number: str) -> bool:
        """The rule for agents reading a task: only one of their own calls made or joined it
        (task numbers are sequential, so anything looser lets an agent read every merchant's
        phone, address and recordings)."""
        return bool(agent_number) and (
            self.view.task.agent_number == agent_number
            or any(c.agent_number == agent_number for c in self.calls))


@dataclass(frozen=True, slots=True)
class BoardFilter:
    """The board's filters. ``status`` is a status, ``open`` (default) or ``all``;
    ``min_age`` keeps tasks created at least that long ago; ``overdue`` keeps open tasks whose
    3-hour progress clock has run out."""

    kind: str = ""
    status: str = "open"
    district: str = ""
    min_age_hours: float = 0.0
    overdue: bool = False
    limit: int = 300


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """The outbox at a glance (health probe, board banner)."""

    pending: int
    in_flight: int
    dead: int
    oldest_pending_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead outbox row with the task it carries."""

    entry: OutboxEntry
    task_number: str


@dataclass(frozen=True, slots=True)
class UnloggedCall:
    """An answered, ended call with no business record yet."""

    linked_id: str
    agent_number: str
    caller_number: str
    ended_at: datetime


@dataclass(frozen=True, slots=True)
class PendingCallback:
    """A callback left pending (待处理)."""

    id: int
    merchant_id: int
    merchant_name: str
    purpose: str
    pending_since: datetime
    due_at: datetime | None
    agent_number: str


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A task with the two facts the domain ``Task`` does not carry (both go to the business
    system): the disposition that created it and the department a call was forwarded to."""

    task: Task
    disposition: str
    department: str


@dataclass(frozen=True, slots=True)
class NewComplaint:
    """The complaint a new complaint record carries."""

    complaint_class: int
    description: str
    handling: str
    result: str
    amount_yuan: float | None
    media_exposure: bool
    escalation_tier: int
    closed_at: datetime | None
    second_line_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewRecord:
    """Everything a new business record is written with (task, its call, its first history
    line, its complaint)."""

    task_number: str
    kind: str
    status: str
    merchant_id: int
    linked_id: str
    agent_number: str
    terminal_serial: str
    product_model: str
    address: str
    site_phone: str
    business_hours: str
    contact_person: str
    description: str
    disposition: str
    department: str
    delivery_state: str
    at: datetime
    actor: str
    note: str
    complaint: NewComplaint | None
