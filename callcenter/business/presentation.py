"""JSON shapes of the business records, shared by the HTTP API and the WebSocket pushes. Pure.

Times go out twice: ``*_at`` as ISO 8601 UTC (``2026-11-22T02:15:00Z``) for programs, and
``*_local`` formatted in the configured zone (Asia/Shanghai) for people, so a browser never has
to know the zone rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.business.business_protocol import iso
from callcenter.business.records import (
    ComplaintCase,
    DeadLetter,
    OutboxEntry,
    TaskDetail,
    TaskView,
)
from callcenter.business.sla import Clock, ClockState, complaint_clocks, task_clocks
from callcenter.business.task_state import TaskState, allowed_actions
from callcenter.business.wrapup import FieldChange
from callcenter.domain import Task


def local(value: datetime | None, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(tz).strftime(fmt) if value is not None else ""


def clock_json(c: Clock, now: datetime, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "name": c.name.value, "state": c.state.value, "flagged": c.flagged,
        "started_at": iso(c.started_at), "due_at": iso(c.due_at), "due_local": local(c.due_at, tz),
        "met_at": iso(c.met_at), "remaining_s": int((c.due_at - now).total_seconds()),
    }


def task_json(task: Task, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "task_number": task.task_number, "kind": task.kind.value, "status": task.status.value,
        "merchant_id": task.merchant_id, "linked_id": task.linked_id,
        "agent_number": task.agent_number, "terminal_serial": task.terminal_serial,
        "product_model": task.product_model, "address": task.address,
        "site_phone": task.site_phone, "business_hours": task.business_hours,
        "contact_person": task.contact_person, "description": task.description,
        "engineer": task.engineer, "appointment_at": iso(task.appointment_at),
        "appointment_local": local(task.appointment_at, tz),
        "cancel_reason": task.cancel_reason, "external_id": task.external_id,
        "delivery_state": task.delivery_state.value, "version": task.version,
        "created_at": iso(task.created_at), "created_local": local(task.created_at, tz),
        "updated_at": iso(task.updated_at), "open": task.open,
    }


def task_state_of(task: Task) -> TaskState:
    return TaskState(kind=task.kind, status=task.status, engineer=task.engineer,
                     appointment_at=task.appointment_at, cancel_reason=task.cancel_reason)


def view_json(view: TaskView, now: datetime, tz: ZoneInfo, *, board_actions: bool = True
              ) -> dict[str, Any]:
    """A board row: the task, its merchant, its clocks and the actions the board offers."""
    task = view.task
    clocks = task_clocks(status=task.status, created_at=task.created_at,
                         call_ended_at=view.call_ended_at,
                         last_progress_at=view.last_progress_at, now=now)
    data = task_json(task, tz)
    data.update({
        "disposition": view.disposition, "department": view.department,
        "merchant_number": view.merchant_number, "merchant_name": view.merchant_name,
        "district": view.district, "age_s": int((now - task.created_at).total_seconds()),
        "last_progress_at": iso(view.last_progress_at),
        "clocks": [clock_json(c, now, tz) for c in clocks],
        "overdue": any(c.state is ClockState.OVERDUE for c in clocks),
        "actions": [a.value for a in allowed_actions(task_state_of(task))]
        if board_actions else [],
    })
    return data


def outbox_json(entry: OutboxEntry, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": entry.id, "version": entry.task_version, "idempotency_key": entry.idempotency_key,
        "state": entry.state.value, "attempts": entry.attempts,
        "created_at": iso(entry.created_at), "next_attempt_at": iso(entry.next_attempt_at),
        "next_attempt_local": local(entry.next_attempt_at, tz, "%m-%d %H:%M:%S"),
        "give_up_at": iso(entry.give_up_at), "delivered_at": iso(entry.delivered_at),
        "dead_at": iso(entry.dead_at), "dead_local": local(entry.dead_at, tz),
        "last_error": entry.last_error,
    }


def dead_letter_json(dead: DeadLetter, tz: ZoneInfo) -> dict[str, Any]:
    data = outbox_json(dead.entry, tz)
    data["task_number"] = dead.task_number
    return data


def complaint_json(case: ComplaintCase, now: datetime, tz: ZoneInfo) -> dict[str, Any]:
    c = case.complaint
    clocks = complaint_clocks(
        complaint_class=c.complaint_class, created_at=c.created_at, reported_at=c.reported_at,
        temporary_solution_at=c.temporary_solution_at, second_line_at=case.second_line_at,
        closed_at=c.closed_at, now=now)
    return {
        "id": c.id, "task_number": case.task_number, "linked_id": c.linked_id,
        "merchant_id": c.merchant_id, "merchant_name": case.merchant_name,
        "class": c.complaint_class, "description": c.description, "handling": c.handling,
        "result": c.result, "amount_yuan": c.amount_yuan, "media_exposure": c.media_exposure,
        "escalation_tier": c.escalation_tier, "created_at": iso(c.created_at),
        "created_local": local(c.created_at, tz), "reported_at": iso(c.reported_at),
        "temporary_solution_at": iso(c.temporary_solution_at),
        "second_line_at": iso(case.second_line_at), "closed_at": iso(c.closed_at),
        "clocks": [clock_json(k, now, tz) for k in clocks],
        "overdue": any(k.state is ClockState.OVERDUE for k in clocks),
    }


def detail_json(detail: TaskDetail, now: datetime, tz: ZoneInfo, *, board_actions: bool = True
                ) -> dict[str, Any]:
    data = view_json(detail.view, now, tz, board_actions=board_actions)
    data["calls"] = [{
        "linked_id": c.linked_id, "caller_number": c.caller_number,
        "agent_number": c.agent_number, "relation": c.relation.value,
        "started_at": iso(c.started_at), "started_local": local(c.started_at, tz),
        "answered_at": iso(c.answered_at), "ended_at": iso(c.ended_at),
        "ivr_path": c.ivr_path, "intent": c.intent, "disposition": c.disposition,
        "wrapup_note": c.wrapup_note,
        "recordings": [f"/recordings/{token}" for token in c.recording_tokens],
    } for c in detail.calls]
    data["events"] = [{
        "at": iso(e.at), "at_local": local(e.at, tz, "%Y-%m-%d %H:%M:%S"), "status": e.status,
        "actor": e.actor, "note": e.note,
    } for e in detail.events]
    data["deliveries"] = [outbox_json(d, tz) for d in detail.deliveries]
    data["complaint"] = (complaint_json(detail.complaint, now, tz)
                         if detail.complaint is not None else None)
    return data


def changes_json(changes: tuple[FieldChange, ...]) -> list[dict[str, str]]:
    return [{"field": c.field, "stored": c.stored, "entered": c.entered} for c in changes]


def status_message(view: TaskView, tz: ZoneInfo) -> dict[str, Any]:
    """What the agent who took the call hears (hub topic ``agent:<agent_number>``)."""
    task = view.task
    return {
        "type": "task_status", "task_number": task.task_number, "kind": task.kind.value,
        "status": task.status.value, "engineer": task.engineer,
        "appointment_at": iso(task.appointment_at),
        "appointment_local": local(task.appointment_at, tz),
        "merchant_name": view.merchant_name, "linked_id": task.linked_id,
        "updated_at": iso(task.updated_at),
    }
