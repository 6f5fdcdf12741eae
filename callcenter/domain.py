"""Domain objects and the pure rules that validate them.

Repositories hand these frozen dataclasses to the core; ORM rows never leave the store. The rules
come from the company's service regulations (shared/docs/domain.md): a merchant number (商户号)
is exactly 15 digits; phone numbers are normalised before they are stored or looked up, so that
``+86 138-0013-8000``, ``008613800138000`` and ``13800138000`` all find the same merchant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from callcenter.errors import ValidationError

MERCHANT_NUMBER_LENGTH = 15
DESCRIPTION_MAX = 200

HOTLINE_QUEUES: tuple[str, ...] = ("presales", "aftersales", "complaints", "techsupport", "night")
"""The hotline's queues, as ``dialplans/queues.conf`` declares them (a test keeps the two, and
the simulator's own copy, in step). The IVR routes to them; agents are members of them."""


class Role(StrEnum):
    AGENT = "agent"
    # between agent and supervisor (the regulations' 班组长): reviews complaints, calls and
    # recordings (QA), reads the reports, approves roster swaps; no agent desk, no board
    TEAM_LEAD = "team_lead"
    SUPERVISOR = "supervisor"
    DISPATCHER = "dispatcher"
    ADMIN = "admin"


class MerchantTag(StrEnum):
    NEW = "new"
    HIGH_VALUE = "high_value"


class TerminalStatus(StrEnum):
    ACTIVE = "active"
    IN_REPAIR = "in_repair"
    FAULTY = "faulty"
    REMOVED = "removed"


class CallOutcome(StrEnum):
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    CALLBACK_REQUESTED = "callback_requested"  # key 1 in the queue: a call-back booked
    IVR_ONLY = "ivr_only"
    FAILED = "failed"


class Disposition(StrEnum):
    """What the agent records at wrap-up (the agent's decision tree in the domain brief)."""

    CONSULTATION = "consultation"  # 一般咨询
    SIMPLE_FAULT = "simple_fault"  # 简单故障 (solved on the phone)
    REPAIR = "repair"  # 报修 → 任务单
    INSTALLATION = "installation"  # 装机 → 任务装机单
    COMPLAINT_1 = "complaint_1"  # 一类投诉
    COMPLAINT_2 = "complaint_2"  # 二类投诉
    TECH_SUPPORT = "tech_support"  # 转技术支持
    FORWARDED = "forwarded"  # 转其他部门


class TaskKind(StrEnum):
    CONSULTATION = "consultation"
    SIMPLE_FAULT = "simple_fault"
    REPAIR = "repair"
    INSTALLATION = "installation"
    COMPLAINT = "complaint"


class TaskStatus(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    ASSIGNED = "assigned"  # engineer assigned
    APPOINTED = "appointed"  # appointment set
    ON_SITE = "on_site"
    DONE = "done"
    CANCELLED = "cancelled"


OPEN_TASK_STATUSES = frozenset(
    {TaskStatus.NEW, TaskStatus.ACCEPTED, TaskStatus.ASSIGNED, TaskStatus.APPOINTED,
     TaskStatus.ON_SITE}
)


class DeliveryState(StrEnum):
    LOCAL = "local"  # no external business system: the built-in store is the system of record
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # gave up after the retry window: raises an alert


class CallbackStatus(StrEnum):
    PLANNED = "planned"
    PENDING = "pending"  # 待处理: must be resolved within 2 days
    DONE = "done"
    REFUSED = "refused"


# --------------------------------------------------------------------------- pure validation

_NON_DIGITS = re.compile(r"[\s\-().]")


def validate_merchant_number(value: str, field_name: str = "merchant_number") -> str:
    """Return the merchant number if it is exactly 15 ASCII digits, else raise."""
    text = value.strip()
    if len(text) != MERCHANT_NUMBER_LENGTH or not (text.isascii() and text.isdigit()):
        raise ValidationError(
            field_name, f"a merchant number is exactly 15 digits, got {value!r}"
        )
    return text


def normalise_phone(value: str) -> str:
    """Canonical digits of a Chinese phone number, or raise ValidationError.

    Accepts mobiles (``13800138000``), landlines with area code (``021-5555 1234``,
    ``0755-88886666``), service numbers (``4008000000``) and the ``+86``/``0086``/``86``
    prefixes a trunk may put in front of a caller ID. Returns digits only.
    """
    text = _NON_DIGITS.sub("", value.strip())
    if text.startswith("+"):
        text = text[1:]
    if not (text.isascii() and text.isdigit()):
        raise ValidationError("phone", f"not a phone number: {value!r}")
    if text.startswith("0086"):
        text = text[4:]
    elif text.startswith("86") and 11 <= len(text) <= 13 and text[2] != "0":
        # 86 + mobile (13 digits) or 86 + landline without its trunk prefix 0
        rest = text[2:]
        text = rest if rest.startswith("1") and len(rest) == 11 else "0" + rest
    if len(text) == 11 and text.startswith("1") and text[1] in "3456789":
        return text
    if text.startswith("0") and 10 <= len(text) <= 12 and text[1] != "0":
        return text
    if len(text) == 10 and text.startswith(("400", "800")):
        return text
    raise ValidationError("phone", f"not a valid mobile, landline or service number: {value!r}")


def caller_id_candidates(caller_id: str) -> list[str]:
    """Phone keys to try for a raw caller ID; empty when it cannot be a phone number.

    Caller IDs are caller-controlled: they are only ever used as lookup keys after this.
    """
    try:
        return [normalise_phone(caller_id)]
    except ValidationError:
        return []


def validate_description(value: str, field_name: str = "description") -> str:
    text = value.strip()
    if len(text) > DESCRIPTION_MAX:
        raise ValidationError(
            field_name, f"at most {DESCRIPTION_MAX} characters, got {len(text)}"
        )
    return text


_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$")


def validate_business_hours(value: str, field_name: str = "business_hours") -> str:
    """``09:00-21:00`` (a range that may pass midnight, ``22:00-02:00``) or ``24h``."""
    text = value.strip().replace("–", "-").replace(" ", "")
    if text.lower() in {"24h", "00:00-24:00"}:
        return "00:00-24:00"
    if not _HOURS.match(text):
        raise ValidationError(field_name, f"expected HH:MM-HH:MM, got {value!r}")
    return text


def validate_queues(names: Iterable[str], field_name: str = "queues", *,
                    required: bool = False) -> tuple[str, ...]:
    """An agent account's queues, each one of :data:`HOTLINE_QUEUES`; blanks dropped, order
    kept, no repeats. Raises ValidationError naming the unknown queues, or for an empty list
    when ``required``."""
    queues = tuple(dict.fromkeys(q.strip() for q in names if q.strip()))
    unknown = [q for q in queues if q not in HOTLINE_QUEUES]
    if unknown:
        raise ValidationError(field_name, f"unknown queue {', '.join(map(repr, unknown))} "
                                          f"(the queues are {', '.join(HOTLINE_QUEUES)})")
    if required and not queues:
        raise ValidationError(field_name, "at least one queue")
    return queues


# --------------------------------------------------------------------------- entities


@dataclass(frozen=True, slots=True)
class Merchant:
    id: int
    merchant_number: str
    name: str
    address: str
    district: str
    contact_person: str
    phones: tuple[str, ...]
    business_hours: str
    tags: frozenset[str]
    created_at: datetime
    updated_at: datetime

    @property
    def high_value(self) -> bool:
        return MerchantTag.HIGH_VALUE in self.tags


@dataclass(frozen=True, slots=True)
class MerchantInput:
    """A merchant as imported or edited, before it has an id."""

    merchant_number: str
    name: str
    address: str
    district: str
    contact_person: str
    phones: tuple[str, ...]
    business_hours: str
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Terminal:
    id: int
    serial: str
    model: str
    merchant_id: int
    install_date: date | None
    status: str


@dataclass(frozen=True, slots=True)
class TerminalInput:
    serial: str
    model: str
    merchant_number: str
    install_date: date | None
    status: str = TerminalStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    display_name: str
    role: Role
    active: bool
    locale: str


@dataclass(frozen=True, slots=True)
class Agent:
    id: int
    agent_number: str  # 工号
    name: str
    interface: str  # e.g. PJSIP/8001
    queues: tuple[str, ...]
    skills: tuple[str, ...]
    user_id: int | None
    # The device whose state the queue member follows (QueueAdd StateInterface): None = the
    # configured template for Local interfaces ([ami] state_interface, PJSIP/{ext}); "" = none.
    state_interface: str | None = None


@dataclass(frozen=True, slots=True)
class Queue:
    id: int
    name: str
    title_zh: str
    title_en: str
    strategy: str
    service_level_s: int
    wrapup_s: int


@dataclass(frozen=True, slots=True)
class Call:
    id: int
    linked_id: str
    unique_id: str
    caller_number: str
    merchant_id: int | None
    merchant_verified: bool
    ivr_path: str
    intent: str
    lang: str
    queue: str
    priority: int
    agent_number: str
    started_at: datetime
    queued_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    wait_s: float | None
    talk_s: float | None
    outcome: str | None
    disposition: str | None
    wrapup_note: str
    satisfaction: int | None


@dataclass(frozen=True, slots=True)
class CallEvent:
    id: int
    linked_id: str
    at: datetime
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Recording:
    id: str  # opaque token, never a path
    linked_id: str
    path: str
    started_at: datetime | None
    ended_at: datetime | None
    size_bytes: int | None


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    task_number: str
    kind: TaskKind
    status: TaskStatus
    merchant_id: int
    linked_id: str | None
    agent_number: str
    terminal_serial: str
    product_model: str
    address: str
    site_phone: str
    business_hours: str
    contact_person: str
    description: str
    engineer: str
    appointment_at: datetime | None
    cancel_reason: str
    external_id: str
    delivery_state: DeliveryState
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def open(self) -> bool:
        return self.status in OPEN_TASK_STATUSES


@dataclass(frozen=True, slots=True)
class Complaint:
    id: int
    linked_id: str | None
    merchant_id: int
    complaint_class: int  # 1 or 2
    description: str
    handling: str
    result: str
    amount_yuan: float | None
    media_exposure: bool
    escalation_tier: int
    created_at: datetime
    reported_at: datetime | None
    temporary_solution_at: datetime | None
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Callback:
    id: int
    merchant_id: int
    purpose: str
    status: CallbackStatus
    planned_for: date
    due_at: datetime | None
    result: str
    complaint_id: int | None


@dataclass(frozen=True, slots=True)
class QaReview:
    id: int
    linked_id: str
    agent_number: str
    reviewer: str
    scores: dict[str, int]
    passed: bool
    comment: str
    created_at: datetime


def mask_phone(number: str) -> str:
    """A phone number for people and logs that need not see it: ``13812348000`` →
    ``138****8000`` (the first three and last four digits stay; short numbers keep less, so
    at least half is always hidden)."""
    digits = number.strip()
    if len(digits) >= 8:
        return digits[:3] + "****" + digits[-4:]
    if len(digits) >= 3:
        keep = len(digits) // 4
        return digits[:keep] + "*" * (len(digits) - 2 * keep) + digits[len(digits) - keep:]
    return "*" * len(digits)
