"""Wire format between the hotline and the business management system (业务管理系统). Pure.

Outbound, one request per task version (docs/business-api.md, docs/openapi.yaml)::

    POST /tasks HTTP/1.1
    Content-Type: application/json
    Idempotency-Key: RP20261122-0001.v1
    X-Callcenter-Signature: sha256=5d41402abc4b2a76b9719d911017c592...

    {"agent_number":"8001","appointment_at":null,"calls":[{"agent_number":"8001",...}],...}

The body is canonical JSON (keys sorted, no spaces, UTF-8), so a retry of the same row sends the
same bytes under the same key and signature. The key is stable per task *version*: the business
system stores it and answers 409 to a second request carrying it, which we count as delivered.

Inbound, the business system reports status changes to ``POST /api/business/webhook``, signed
the same way over the raw body::

    {"event_id":"bs-20261122-000123","task_number":"RP20261122-0001","status":"assigned",
     "occurred_at":"2026-11-22T02:15:00Z","engineer":"李工"}

The signature is HMAC-SHA256 with the shared ``business.secret``, hex, prefixed ``sha256=``.
An empty secret verifies nothing: the webhook then refuses every request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from callcenter.business.errors import MalformedEvent
from callcenter.business.records import TaskCall
from callcenter.domain import Complaint, Task, TaskStatus
from callcenter.json_limits import JsonRefused, loads_limited

SCHEMA = "callcenter.task/1"
SIGNATURE_HEADER = "X-Callcenter-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
TASKS_PATH = "/tasks"
MAX_WEBHOOK_BYTES = 64 * 1024
MIN_YEAR, MAX_YEAR = 2000, 9998


class TaskEventType:
    CREATED = "task.created"
    UPDATED = "task.updated"
    CALL_LINKED = "task.call_linked"


def idempotency_key(task_number: str, version: int) -> str:
    """``RP20261122-0001.v3``: one key per task version, the same on every retry."""
    return f"{task_number}.v{version}"


def parse_idempotency_key(key: str) -> tuple[str, int]:
    """Inverse of :func:`idempotency_key`; raises ValueError."""
    number, sep, version = key.rpartition(".v")
    if not sep or not number or not version.isdigit():
        raise ValueError(f"not an idempotency key: {key!r}")
    return number, int(version)


def encode_body(payload: dict[str, Any]) -> bytes:
    """Canonical JSON: the same payload always gives the same bytes (and signature)."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of body>``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check of a signature header; False for an empty secret or header."""
    if not secret or not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


def iso(value: datetime | None) -> str | None:
    """``2026-11-22T02:15:00Z`` (UTC, seconds) or None."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str, field: str) -> datetime:
    """An ISO 8601 time with a zone (``Z`` or ``+08:00``), as aware UTC."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedEvent(field, f"not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise MalformedEvent(field, "the time needs a zone (Z or +08:00)")
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        # year 1 (or 9999) with an offset overflows on the way to UTC
        raise MalformedEvent(field, f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return parsed.astimezone(UTC)


# --------------------------------------------------------------------------- webhook


WEBHOOK_STATUSES = frozenset(TaskStatus) - {TaskStatus.NEW}


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One status change reported by the business system."""

    event_id: str
    task_number: str
    status: TaskStatus
    occurred_at: datetime
    engineer: str = ""
    appointment_at: datetime | None = None
    reason: str = ""
    external_id: str = ""
    note: str = ""


def parse_webhook(body: bytes) -> WebhookEvent:
    """Read a webhook body; raise MalformedEvent naming the field. Call after :func:`verify`."""
    if len(body) > MAX_WEBHOOK_BYTES:
        raise MalformedEvent("body", f"larger than {MAX_WEBHOOK_BYTES} bytes")
    try:
        data = loads_limited(body, max_bytes=MAX_WEBHOOK_BYTES)
    except JsonRefused as exc:
        raise MalformedEvent("body", str(exc)) from None
    if not isinstance(data, dict):
        raise MalformedEvent("body", "expected a JSON object")

    def text(key: str, limit: int, required: bool = False) -> str:
        value = data.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise MalformedEvent(key, "expected a string")
        value = value.strip()
        if required and not value:
            raise MalformedEvent(key, "required")
        if len(value) > limit:
            raise MalformedEvent(key, f"at most {limit} characters")
        return value

    event_id = text("event_id", 80, required=True)
    task_number = text("task_number", 32, required=True)
    status_text = text("status", 20, required=True)
    try:
        status = TaskStatus(status_text)
    except ValueError:
        status = None
    if status is None or status not in WEBHOOK_STATUSES:
        raise MalformedEvent("status", "one of " + ", ".join(sorted(WEBHOOK_STATUSES)))
    occurred = parse_time(text("occurred_at", 40, required=True), "occurred_at")
    appointment_text = text("appointment_at", 40)
    appointment = parse_time(appointment_text, "appointment_at") if appointment_text else None
    return WebhookEvent(
        event_id=event_id, task_number=task_number, status=status, occurred_at=occurred,
        engineer=text("engineer", 100), appointment_at=appointment,
        reason=text("reason", 200), external_id=text("external_id", 64),
        note=text("note", 200),
    )


def webhook_body(event: WebhookEvent) -> bytes:
    """The canonical body of an event (what the business system sends; tests and the bench
    build requests with it)."""
    payload: dict[str, Any] = {
        "event_id": event.event_id, "task_number": event.task_number,
        "status": event.status.value, "occurred_at": iso(event.occurred_at),
    }
    for key in ("engineer", "reason", "external_id", "note"):
        if getattr(event, key):
            payload[key] = getattr(event, key)
    if event.appointment_at is not None:
        payload["appointment_at"] = iso(event.appointment_at)
    return encode_body(payload)


# --------------------------------------------------------------------------- outbound body


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """What a 2xx/409 answer told us."""

    external_id: str
    duplicate: bool


def parse_acknowledgement(status: int, body: bytes) -> Acknowledgement:
    """Read the business system's answer to a delivery. Its JSON may carry ``external_id``
    (its own ticket number); any other or missing body still acknowledges."""
    external_id = ""
    try:
        data = json.loads(body.decode("utf-8")) if body else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = {}
    if isinstance(data, dict) and isinstance(data.get("external_id"), str):
        external_id = data["external_id"][:64]
    return Acknowledgement(external_id=external_id, duplicate=status == 409)


def task_payload(*, event: str, task: Task, disposition: str, department: str,
                 merchant_number: str, merchant_name: str, calls: Sequence[TaskCall],
                 complaint: Complaint | None) -> dict[str, Any]:
    """The JSON document of one task version (docs/schemas/task-delivery.schema.json)."""
    payload: dict[str, Any] = {
        "schema": SCHEMA,
        "event": event,
        "task_number": task.task_number,
        "version": task.version,
        "kind": task.kind.value,
        "disposition": disposition,
        "status": task.status.value,
        "created_at": iso(task.created_at),
        "updated_at": iso(task.updated_at),
        "agent_number": task.agent_number,
        "merchant": {"merchant_number": merchant_number, "name": merchant_name},
        "site": {"address": task.address, "site_phone": task.site_phone,
                 "business_hours": task.business_hours,
                 "contact_person": task.contact_person},
        "terminal": {"serial": task.terminal_serial, "model": task.product_model},
        "description": task.description,
        "department": department,
        "engineer": task.engineer,
        "appointment_at": iso(task.appointment_at),
        "cancel_reason": task.cancel_reason,
        "calls": [{"linked_id": c.linked_id, "relation": c.relation.value,
                   "agent_number": c.agent_number, "at": iso(c.at)} for c in calls],
        "complaint": None,
    }
    if complaint is not None:
        payload["complaint"] = {
            "class": complaint.complaint_class, "handling": complaint.handling,
            "result": complaint.result, "amount_yuan": complaint.amount_yuan,
            "media_exposure": complaint.media_exposure,
            "escalation_tier": complaint.escalation_tier,
        }
    return payload
