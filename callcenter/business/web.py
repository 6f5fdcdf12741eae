"""HTTP API of the business records (JSON; documented in docs/business-api.md and
docs/openapi.yaml). Handlers: role check → parse → one service call → JSON.

=======  ======================================  ===========  ==============================
method   path                                    role         what
=======  ======================================  ===========  ==============================
GET      /api/calls/{linked_id}/wrapup           agent        pre-filled form + open tasks
POST     /api/calls/{linked_id}/wrapup/check     agent        validate, diff, duplicates
POST     /api/calls/{linked_id}/wrapup           agent        save the wrap-up (201)
GET      /api/tasks/{task_number}                agent¹, disp. the task with calls, history
POST     /api/tasks/{task_number}/actions        dispatcher   accept/assign/appoint/…
GET      /api/board/tasks                        dispatcher   the board's rows (filters)
GET      /api/alerts                             disp., sup.  everything late or broken
POST     /api/complaints/{id}/actions            supervisor   report / temporary / close
GET      /api/complaints/daily?date=YYYY-MM-DD   supervisor   the team lead's summary
POST     /api/outbox/{id}/requeue                dispatcher   retry a dead letter
POST     /api/business/webhook                   signature    status from the business system
=======  ======================================  ===========  ==============================

Agents act only on calls they took (admins on any); ¹ an agent reads only tasks one of their
own calls made or joined (403 ``forbidden`` otherwise). POST bodies are JSON, read by the app's
``read_json`` (size and depth limits, 400 ``bad_json``); times before the year 2000 or after 9998
are refused (422), as are appointments in the past. Errors are the app's JSON errors
(``{"error_id", "message", "field"}``); a wrap-up that breaks several rules adds ``errors``
(every field), a possible duplicate adds ``open_tasks``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

from callcenter.business import presentation
from callcenter.business.business_protocol import (
    MAX_WEBHOOK_BYTES,
    MAX_YEAR,
    MIN_YEAR,
    SIGNATURE_HEADER,
    iso,
    parse_webhook,
    verify,
)
from callcenter.business.errors import (
    BadSignature,
    MalformedEvent,
    NotYourCall,
    PossibleDuplicate,
    WrapupInvalid,
)
from callcenter.business.records import BoardFilter
from callcenter.business.service import BusinessService
from callcenter.business.task_state import Command, TaskAction
from callcenter.business.wrapup import RECORDS, form_from_json
from callcenter.domain import Merchant, Role, TaskKind, TaskStatus, User
from callcenter.errors import Conflict, NotFound, ValidationError
from callcenter.web.app import Forbidden, ctx_of, now_utc, read_json, require

SERVICE = web.AppKey("business_service", BusinessService)
WEBHOOK_PATH = "/api/business/webhook"


def service_of(request: web.Request) -> BusinessService:
    return request.app[SERVICE]


async def agent_number_of(request: web.Request, user: User) -> str | None:
    """The user's agent number (工号); None for an administrator acting for the agent."""
    if user.role is Role.ADMIN:
        return None
    agent = await ctx_of(request).store.agents.by_user(user.id)
    if agent is None:
        raise Forbidden("this account has no agent number")
    return agent.agent_number


def merchant_json(m: Merchant) -> dict[str, Any]:
    return {"id": m.id, "merchant_number": m.merchant_number, "name": m.name,
            "address": m.address, "district": m.district, "contact_person": m.contact_person,
            "phones": list(m.phones), "business_hours": m.business_hours,
            "tags": sorted(m.tags)}


def requirements_json() -> dict[str, Any]:
    return {d.value: {"kind": s.kind.value, "prefix": s.prefix,
                      "starts": s.initial_status.value, "required": list(s.required),
                      "needs_merchant": s.needs_merchant,
                      "duplicate_check": s.duplicate_key.value}
            for d, s in RECORDS.items()}


# --------------------------------------------------------------------------- wrap-up


async def wrapup_get(request: web.Request) -> web.Response:
    user = require(request, Role.AGENT)
    agent_number = await agent_number_of(request, user)
    service = service_of(request)
    view = await service.wrapup_form(request.match_info["linked_id"])
    call = view.context.call
    if agent_number is not None and call.agent_number != agent_number:
        raise NotYourCall(f"call {call.linked_id} was taken by agent {call.agent_number}")
    tz = service.tz
    duplicates = {t.task_number for t in view.duplicates}
    return web.json_response({
        "call": {"linked_id": call.linked_id, "caller_number": call.caller_number,
                 "agent_number": call.agent_number, "merchant_id": call.merchant_id,
                 "merchant_verified": call.merchant_verified, "intent": call.intent,
                 "ivr_path": call.ivr_path,
                 "answered_at": iso(call.answered_at),
                 "ended_at": iso(call.ended_at),
                 "disposition": call.disposition},
        "merchant": merchant_json(view.context.merchant) if view.context.merchant else None,
        "terminals": [{"serial": t.serial, "model": t.model, "status": t.status}
                      for t in view.context.terminals],
        "suggested_disposition": (view.prefill.suggested_disposition.value
                                  if view.prefill.suggested_disposition else None),
        "form": view.prefill.values,
        "terminal_source": view.prefill.terminal_source,
        "requirements": requirements_json(),
        "open_tasks": [dict(presentation.task_json(t, tz),
                            duplicate=t.task_number in duplicates)
                       for t in view.context.open_tasks],
        "record": (presentation.task_json(view.context.record, tz)
                   if view.context.record else None),
    })


def _invalid(exc: WrapupInvalid) -> web.Response:
    return web.json_response({
        "error_id": exc.error_id, "message": str(exc), "field": exc.field,
        "errors": [{"field": e.field, "message": e.message} for e in exc.errors],
    }, status=exc.status)


async def wrapup_check(request: web.Request) -> web.Response:
    user = require(request, Role.AGENT)
    agent_number = await agent_number_of(request, user)
    service = service_of(request)
    linked_id = request.match_info["linked_id"]
    try:
        form = form_from_json(await read_json(request))
        await _own_call(request, linked_id, agent_number)
        check = await service.check_wrapup(linked_id, form)
    except WrapupInvalid as exc:
        return _invalid(exc)
    return web.json_response({
        "valid": True, "disposition": check.wrapup.disposition.value,
        "merchant_changes": presentation.changes_json(check.changes),
        "open_tasks": [presentation.task_json(t, service.tz) for t in check.duplicates],
    })


async def _own_call(request: web.Request, linked_id: str, agent_number: str | None) -> None:
    call = await ctx_of(request).store.calls.get(linked_id)
    if call is None:
        raise NotFound(f"no call {linked_id}")
    if agent_number is not None and call.agent_number != agent_number:
        raise NotYourCall(f"call {linked_id} was taken by agent {call.agent_number}")


async def wrapup_post(request: web.Request) -> web.Response:
    user = require(request, Role.AGENT)
    agent_number = await agent_number_of(request, user)
    service = service_of(request)
    now = now_utc(request)
    try:
        form = form_from_json(await read_json(request))
        outcome = await service.record_wrapup(request.match_info["linked_id"], form,
                                              agent_number=agent_number, now=now)
    except WrapupInvalid as exc:
        return _invalid(exc)
    except PossibleDuplicate as exc:
        tasks = [await service.repo.find_task(n) for n in exc.task_numbers]
        return web.json_response({
            "error_id": exc.error_id, "message": str(exc),
            "open_tasks": [presentation.task_json(t, service.tz) for t in tasks if t],
        }, status=exc.status)
    tz = service.tz
    return web.json_response({
        "linked_id": outcome.linked_id, "disposition": outcome.disposition,
        "record": presentation.task_json(outcome.task, tz) if outcome.task else None,
        "linked": outcome.linked,
        "complaint": (presentation.complaint_json(outcome.complaint, now, tz)
                      if outcome.complaint else None),
        "merchant_changes": presentation.changes_json(outcome.merchant_changes),
        "merchant_updated": outcome.merchant_updated,
    }, status=201)


# --------------------------------------------------------------------------- tasks


async def task_get(request: web.Request) -> web.Response:
    user = require(request, Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.TEAM_LEAD)
    service = service_of(request)
    detail = await service.detail(request.match_info["task_number"])
    if user.role is Role.AGENT:
        agent_number = await agent_number_of(request, user)
        if agent_number is None or not detail.involves_agent(agent_number):
            raise Forbidden("agents may read only the tasks of their own calls")
    return web.json_response(presentation.detail_json(
        detail, now_utc(request), service.tz, board_actions=not service.external))


def parse_local_time(text: str, request: web.Request, field: str) -> datetime:
    """``2026-11-23T14:30`` (a datetime-local input, in the configured zone) or ISO 8601 with
    a zone; aware UTC. ValidationError for anything else, years outside 2000-9998 included."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(field, f"not a date and time: {text!r}") from None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValidationError(field, f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=service_of(request).tz)
    return value.astimezone(UTC)


async def task_action(request: web.Request) -> web.Response:
    user = require(request, Role.DISPATCHER)
    service = service_of(request)
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ValidationError("body", "expected a JSON object")
    try:
        action = TaskAction(str(data.get("action", "")))
    except ValueError:
        raise ValidationError("action", "one of " + ", ".join(a.value for a in TaskAction)
                              ) from None
    now = now_utc(request)
    appointment = None
    if data.get("appointment_at"):
        appointment = parse_local_time(str(data["appointment_at"]), request, "appointment_at")
        if appointment < now:
            raise ValidationError("appointment_at", "the appointment is in the past")
    command = Command(action, engineer=str(data.get("engineer") or ""),
                      appointment_at=appointment, reason=str(data.get("reason") or ""))
    task = await service.change_status(request.match_info["task_number"], command,
                                       actor=user.username, now=now)
    return web.json_response(presentation.task_json(task, service.tz))


def board_filter(request: web.Request) -> BoardFilter:
    """The board's query string: ``kind``, ``status``, ``district``, ``min_age_h``,
    ``overdue``; bad values raise ValidationError naming the parameter."""
    q = request.query
    kind = q.get("kind", "")
    if kind and kind not in {k.value for k in TaskKind}:
        raise ValidationError("kind", f"unknown kind {kind!r}")
    status = q.get("status", "open") or "open"
    if status not in {"open", "all"} | {s.value for s in TaskStatus}:
        raise ValidationError("status", f"unknown status {status!r}")
    try:
        min_age = float(q.get("min_age_h", "0") or 0)
    except ValueError:
        raise ValidationError("min_age_h", "hours, a number") from None
    if not 0 <= min_age <= 24 * 365:
        raise ValidationError("min_age_h", "between 0 and 8760 hours")
    return BoardFilter(kind=kind, status=status, district=q.get("district", "")[:100],
                       min_age_hours=min_age, overdue=q.get("overdue", "") in {"1", "true"})


async def board_tasks(request: web.Request) -> web.Response:
    require(request, Role.DISPATCHER)
    service = service_of(request)
    now = now_utc(request)
    views = await service.board(board_filter(request), now)
    stats = await service.repo.outbox_stats()
    return web.json_response({
        "now": iso(now),
        "mode": "external" if service.external else "local",
        "dead_letters": stats.dead,
        "tasks": [presentation.view_json(v, now, service.tz,
                                         board_actions=not service.external) for v in views],
    })


# --------------------------------------------------------------------------- alerts etc.


async def alerts_get(request: web.Request) -> web.Response:
    require(request, Role.DISPATCHER, Role.SUPERVISOR, Role.TEAM_LEAD)
    service = service_of(request)
    now = now_utc(request)
    alerts = await service.alerts(now)
    tz = service.tz
    return web.json_response({
        "count": alerts.count,
        "dead_letters": [presentation.dead_letter_json(d, tz) for d in alerts.dead_letters],
        "overdue_tasks": [presentation.view_json(v, now, tz, board_actions=False)
                          for v in alerts.overdue_tasks],
        "complaints": [presentation.complaint_json(c, now, tz) for c, _ in alerts.complaints],
        "unlogged_calls": [{"linked_id": u.linked_id, "agent_number": u.agent_number,
                            "caller_number": u.caller_number,
                            "ended_at": iso(u.ended_at),
                            "clock": presentation.clock_json(k, now, tz)}
                           for u, k in alerts.unlogged_calls],
        "callbacks": [{"id": cb.id, "merchant_id": cb.merchant_id,
                       "merchant_name": cb.merchant_name, "purpose": cb.purpose,
                       "agent_number": cb.agent_number,
                       "clock": presentation.clock_json(k, now, tz)}
                      for cb, k in alerts.callbacks],
    })


def _int(request: web.Request, name: str) -> int:
    try:
        return int(request.match_info[name])
    except ValueError:
        raise NotFound(f"no {name} {request.match_info[name]!r}") from None


async def complaint_action(request: web.Request) -> web.Response:
    user = require(request, Role.SUPERVISOR, Role.TEAM_LEAD)
    service = service_of(request)
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ValidationError("body", "expected a JSON object")
    now = now_utc(request)
    case = await service.complaint_action(
        _int(request, "complaint_id"), str(data.get("action", "")),
        str(data.get("text") or ""), actor=user.username, now=now)
    return web.json_response(presentation.complaint_json(case, now, service.tz))


def parse_day(request: web.Request) -> date:
    service = service_of(request)
    text = request.query.get("date", "")
    if not text:
        return now_utc(request).astimezone(service.tz).date()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValidationError("date", f"expected YYYY-MM-DD, got {text!r}") from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ValidationError("date", f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return day


async def complaints_daily(request: web.Request) -> web.Response:
    require(request, Role.SUPERVISOR, Role.TEAM_LEAD)
    service = service_of(request)
    day = parse_day(request)
    now = now_utc(request)
    class1, class2 = await service.daily_complaints(day)
    return web.json_response({
        "date": day.isoformat(),
        "class_1": [presentation.complaint_json(c, now, service.tz) for c in class1],
        "class_2": [presentation.complaint_json(c, now, service.tz) for c in class2],
    })


async def outbox_requeue(request: web.Request) -> web.Response:
    require(request, Role.DISPATCHER)
    service = service_of(request)
    entry = await service.requeue(_int(request, "outbox_id"), now_utc(request))
    return web.json_response(presentation.outbox_json(entry, service.tz))


# --------------------------------------------------------------------------- webhook


async def business_webhook(request: web.Request) -> web.Response:
    """Status changes from the business system, authenticated by the body's HMAC only."""
    if (request.content_length or 0) > MAX_WEBHOOK_BYTES:
        raise MalformedEvent("body", f"larger than {MAX_WEBHOOK_BYTES} bytes")
    body = await request.read()  # parse_webhook refuses more than MAX_WEBHOOK_BYTES
    secret = ctx_of(request).settings.business.secret
    if not verify(secret, body, request.headers.get(SIGNATURE_HEADER)):
        raise BadSignature("missing or wrong " + SIGNATURE_HEADER
                           + ("" if secret else " (business.secret is not set)"))
    service = service_of(request)
    if not service.external:
        raise Conflict("no business system is configured (business.url): the built-in task "
                       "store is the system of record")
    event = parse_webhook(body)
    now = now_utc(request)
    if event.occurred_at > now + timedelta(days=1):
        raise MalformedEvent("occurred_at", "more than a day in the future")
    outcome = await service.apply_webhook(event, now)
    return web.json_response({"event_id": outcome.event_id,
                              "task_number": outcome.task_number,
                              "applied": outcome.applied, "duplicate": outcome.duplicate,
                              "status": outcome.status})


def setup_api(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/calls/{linked_id}/wrapup", wrapup_get)
    r.add_post("/api/calls/{linked_id}/wrapup/check", wrapup_check)
    r.add_post("/api/calls/{linked_id}/wrapup", wrapup_post)
    r.add_get("/api/tasks/{task_number}", task_get)
    r.add_post("/api/tasks/{task_number}/actions", task_action)
    r.add_get("/api/board/tasks", board_tasks)
    r.add_get("/api/alerts", alerts_get)
    r.add_post("/api/complaints/{complaint_id}/actions", complaint_action)
    r.add_get("/api/complaints/daily", complaints_daily)
    r.add_post("/api/outbox/{outbox_id}/requeue", outbox_requeue)
    r.add_post(WEBHOOK_PATH, business_webhook)
