"""Callbacks (回访) over HTTP.

==========================================  ==================================================
``GET /callbacks``                          page: an agent's callbacks and the form; for the
                                            team lead (supervisor) planning, review, summary
``GET /api/callbacks``                      ``?state=planned|pending|done&month=YYYY-MM``:
                                            a JSON list (``merchant_id``, ``kind``, ``due_at``,
                                            ``state`` …); an agent sees their own only
``GET /api/callbacks/{id}``                 one callback with its form
``POST /api/callbacks/{id}/form``           the agent's 《服务质量电话回访表》
``POST /api/callbacks/{id}/review``         the team lead reviews a done form
``POST /api/callbacks/plan``                ``{"date"}``: plan the day and assign agents
``POST /api/callbacks/upload``              ``{"date", "csv"}``: the department's plan
``GET /api/callbacks/summary``              ``?month=YYYY-MM[&format=csv]``
``POST /api/callbacks/{id}/accept``          the agent takes the keep-my-place call-back
                                            offered on the desk: dials as click to dial
``POST /api/callbacks/{id}/decline``         … passes it to the next free agent
``POST /api/callbacks/{id}/outcome``         ``{"reached": bool}`` after the dial
``POST /api/callbacks/{id}/open``            the agent opens their 回访 on the desk: the
                                            merchant's card and service history go to the
                                            desk's screen pop (a ``pop`` message), then a
                                            ``service_callback`` ``opened`` message; answers
                                            the number to dial (the desk dials by click)
``GET /callbacks/static/…``                 the page's script (public, like /static/)
==========================================  ==================================================

A team-lead role does not exist yet: supervisors review and plan (and admins).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from callcenter.callbacks import keep_place, rules
from callcenter.callbacks.offers import QueueCallbackOffers
from callcenter.callbacks.rules import CallbackState, Record
from callcenter.callbacks.service import CallbackService
from callcenter.domain import Role, User
from callcenter.errors import NotFound, ValidationError
from callcenter.topics import agent_topic
from callcenter.web import i18n
from callcenter.web.app import (
    Forbidden,
    PageLink,
    WebModule,
    audit,
    ctx_of,
    locale_of,
    now_utc,
    read_json_object,
    render,
    require,
)
from cti.errors import CtiError
from cti.web import http_error

__all__ = ["LEADS", "READERS", "ROUTES", "web_module"]

READERS: Final = (Role.AGENT, Role.SUPERVISOR, Role.TEAM_LEAD, Role.ADMIN)
LEADS: Final = (Role.SUPERVISOR, Role.TEAM_LEAD, Role.ADMIN)  # who plans and reviews
ROUTES: Final = (("GET", "/callbacks"), ("GET", "/api/callbacks"),
                 ("GET", "/api/callbacks/summary"), ("GET", "/api/callbacks/{callback_id}"),
                 ("POST", "/api/callbacks/{callback_id}/form"),
                 ("POST", "/api/callbacks/{callback_id}/review"),
                 ("POST", "/api/callbacks/plan"), ("POST", "/api/callbacks/upload"),
                 ("POST", "/api/callbacks/{callback_id}/accept"),
                 ("POST", "/api/callbacks/{callback_id}/decline"),
                 ("POST", "/api/callbacks/{callback_id}/outcome"),
                 ("POST", "/api/callbacks/{callback_id}/open"))
TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
SERVICE = web.AppKey("callback_service", CallbackService)
OFFERS = web.AppKey("queue_callback_offers", QueueCallbackOffers)

MESSAGES: Final[dict[str, dict[str, str]]] = {
    "callbacks.nav": {"zh-CN": "回访", "en": "Callbacks"},
    "callbacks.title": {"zh-CN": "服务质量电话回访", "en": "Service-quality callbacks"},
    "callbacks.state.planned": {"zh-CN": "计划", "en": "Planned"},
    "callbacks.state.pending": {"zh-CN": "待处理", "en": "Pending"},
    "callbacks.state.done": {"zh-CN": "已完成", "en": "Done"},
    "callbacks.kind.service": {"zh-CN": "服务回访", "en": "Service"},
    "callbacks.kind.complaint_followup": {"zh-CN": "投诉后续跟踪", "en": "Complaint follow-up"},
    "callbacks.kind.queue_callback": {"zh-CN": "排队回拨", "en": "Queue call-back"},
    "callbacks.col.merchant": {"zh-CN": "商户", "en": "Merchant"},
    "callbacks.col.kind": {"zh-CN": "类型", "en": "Kind"},
    "callbacks.col.due": {"zh-CN": "截止", "en": "Due"},
    "callbacks.col.agent": {"zh-CN": "坐席", "en": "Agent"},
    "callbacks.col.clock": {"zh-CN": "2 天时限", "en": "2-day clock"},
    "callbacks.col.next": {"zh-CN": "下次尝试", "en": "Next attempt"},
    "callbacks.overdue": {"zh-CN": "已超时", "en": "Overdue"},
    "callbacks.open": {"zh-CN": "填写回访表", "en": "Fill in the form"},
    "callbacks.form.title": {"zh-CN": "《服务质量电话回访表》",
                             "en": "Service-quality callback form"},
    "callbacks.form.identity": {"zh-CN": "已表明身份", "en": "Identity stated"},
    "callbacks.form.purpose": {"zh-CN": "已说明来意", "en": "Purpose stated"},
    "callbacks.form.accepted": {"zh-CN": "商户接受回访", "en": "Merchant accepts the callback"},
    "callbacks.form.satisfaction": {"zh-CN": "服务满意度 (1-5)", "en": "Satisfaction (1-5)"},
    "callbacks.form.attitude": {"zh-CN": "服务态度 (1-5)", "en": "Attitude (1-5)"},
    "callbacks.form.solved": {"zh-CN": "问题是否解决", "en": "Problem solved"},
    "callbacks.form.comments": {"zh-CN": "商户意见", "en": "Comments"},
    "callbacks.form.outcome": {"zh-CN": "结果", "en": "Outcome"},
    "callbacks.form.follow_up": {"zh-CN": "后续处理", "en": "Follow-up"},
    "callbacks.form.submit": {"zh-CN": "提交", "en": "Submit"},
    "callbacks.outcome.completed": {"zh-CN": "完成", "en": "Completed"},
    "callbacks.outcome.refused": {"zh-CN": "拒绝回访", "en": "Refused"},
    "callbacks.outcome.follow_up": {"zh-CN": "需后续处理（待处理）", "en": "Follow-up (pending)"},
    "callbacks.outcome.unreachable": {"zh-CN": "无法接通（安排重拨）",
                                      "en": "Unreachable (retry planned)"},
    "callbacks.review": {"zh-CN": "审核", "en": "Review"},
    "callbacks.reviewed": {"zh-CN": "已审核", "en": "Reviewed"},
    "callbacks.plan": {"zh-CN": "生成当日回访计划", "en": "Plan the day"},
    "callbacks.upload": {"zh-CN": "上传回访计划 (CSV)", "en": "Upload a plan (CSV)"},
    "callbacks.summary": {"zh-CN": "月度汇总", "en": "Monthly summary"},
    "callbacks.none": {"zh-CN": "没有回访", "en": "No callbacks"},
    "callbacks.saved": {"zh-CN": "已保存", "en": "Saved"},
    "callbacks.col.result": {"zh-CN": "结果", "en": "Result"},
    "callbacks.solved.yes": {"zh-CN": "已解决", "en": "Yes"},
    "callbacks.solved.partly": {"zh-CN": "部分解决", "en": "Partly"},
    "callbacks.solved.no": {"zh-CN": "未解决", "en": "No"},
    # the agent desk's panel (templates/callbacks/desk_panel.html, static/desk_callbacks.js)
    "callbacks.desk.title": {"zh-CN": "我的回访", "en": "My callbacks"},
    "callbacks.desk.open": {"zh-CN": "打开", "en": "Open"},
    "callbacks.desk.dial": {"zh-CN": "呼叫", "en": "Call"},
    "callbacks.desk.close": {"zh-CN": "关闭", "en": "Close"},
    "callbacks.desk.read_first": {"zh-CN": "正在载入商户服务记录，请先阅读…",
                                  "en": "Loading the merchant's service history: read it first…"},
    "callbacks.desk.history_shown": {
        "zh-CN": "左侧为商户近期服务记录，阅读后点击“呼叫”",
        "en": "The merchant's recent service history is on the left: read it, then Call"},
    "callbacks.desk.dialling": {"zh-CN": "您的话机先振铃，接听后拨打商户…",
                                "en": "Your phone rings first, then the merchant is dialled…"},
    "callbacks.desk.no_number": {"zh-CN": "商户没有登记电话",
                                 "en": "The merchant has no phone on file"},
    # keep-my-place call-backs: worked from the agent's desk in the caller's turn
    "callbacks.place.waiting": {"zh-CN": "保留排队顺序，等待坐席",
                                "en": "Keeps its place, waiting"},
    "callbacks.place.claimed": {"zh-CN": "已分配坐席回拨", "en": "Offered to an agent"},
    "callbacks.place.done": {"zh-CN": "已接通", "en": "Reached"},
    "callbacks.place.failed": {"zh-CN": "多次未接通，已放弃", "en": "Given up: no answer"},
    "callbacks.place.try": {"zh-CN": "第 {n}/{max} 次", "en": "try {n} of {max}"},
    "callbacks.queue.presales": {"zh-CN": "售前咨询", "en": "Pre-sales"},
    "callbacks.queue.aftersales": {"zh-CN": "售后服务", "en": "After-sales"},
    "callbacks.queue.complaints": {"zh-CN": "投诉", "en": "Complaints"},
    "callbacks.queue.techsupport": {"zh-CN": "技术支持", "en": "Technical support"},
    "callbacks.queue.night": {"zh-CN": "夜间值班", "en": "Night shift"},
}


def service_of(request: web.Request) -> CallbackService:
    return request.app[SERVICE]


async def _own(request: web.Request, user: User) -> str | None:
    """An agent's number (they see their own callbacks); None for the team lead and admins."""
    if user.role is not Role.AGENT:
        return None
    agent = await ctx_of(request).store.agents.by_user(user.id)
    if agent is None:
        raise Forbidden("this account has no agent number")
    return agent.agent_number


def _state(raw: str | None) -> CallbackState | None:
    if not raw:
        return None
    try:
        return CallbackState(raw)
    except ValueError:
        raise ValidationError("state", "one of planned, pending, done") from None


def _month(raw: str | None, now: datetime) -> date:
    if not raw:
        return now.date().replace(day=1)
    try:
        return date.fromisoformat(f"{raw}-01")
    except ValueError:
        raise ValidationError("month", "YYYY-MM") from None


def _day(raw: Any) -> date:
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise ValidationError("date", "YYYY-MM-DD") from None


def callback_json(record: Record, now: datetime, max_tries: int = keep_place.MAX_TRIES
                  ) -> dict[str, Any]:
    clock = rules.pending_clock(record, now)
    return {
        "id": record.id, "merchant_id": record.merchant_id, "kind": record.kind.value,
        "due_at": record.due_at.isoformat(), "state": record.state.value,
        "merchant_name": record.merchant_name, "merchant_number": record.merchant_number,
        "planned_for": record.planned_for.isoformat(), "agent_number": record.agent_number,
        "purpose": record.purpose, "complaint_id": record.complaint_id,
        "attempts": record.attempts,
        "next_attempt_at": record.next_attempt_at.isoformat() if record.next_attempt_at
        else None,
        "pending_since": record.pending_since.isoformat() if record.pending_since else None,
        "clock": None if clock is None else {
            "due_at": clock.due_at.isoformat(), "state": clock.state.value,
            "remaining_s": int((clock.due_at - now).total_seconds())},
        "form": dict(record.answers), "result": record.result,
        "completed_at": record.completed_at.isoformat() if record.completed_at else None,
        "reviewed_by": record.reviewed_by,
        "reviewed_at": record.reviewed_at.isoformat() if record.reviewed_at else None,
        # a keep-my-place call-back's place (the number is not shown on this page)
        "place": None if record.place is None else {
            "queue": record.place.queue, "arrived_at": record.place.arrived_at.isoformat(),
            "state": record.place.state.value, "tries": record.place.tries,
            "max_tries": max_tries, "claimed_by": record.place.claimed_by,
            "retry_at": record.place.retry_at.isoformat() if record.place.retry_at else None},
    }


async def list_api(request: web.Request) -> web.Response:
    user = require(request, *READERS)
    now = now_utc(request)
    state = _state(request.query.get("state"))
    month = _month(request.query["month"], now) if request.query.get("month") else None
    mine = await _own(request, user)
    agent = mine if mine is not None else (request.query.get("agent") or None)
    records = await service_of(request).find(state=state, agent_number=agent, month=month)
    tries = _max_tries(request)
    return web.json_response([callback_json(r, now, tries) for r in records])


async def detail_api(request: web.Request) -> web.Response:
    user = require(request, *READERS)
    record = await service_of(request).get(_id(request), await _own(request, user))
    return web.json_response(callback_json(record, now_utc(request), _max_tries(request)))


def _id(request: web.Request) -> int:
    raw = request.match_info["callback_id"]
    if not raw.isdigit():
        raise ValidationError("callback_id", "a number")
    return int(raw)


async def form_api(request: web.Request) -> web.Response:
    user = require(request, *READERS)
    mine = await _own(request, user)
    data = await read_json_object(request)
    now = now_utc(request)
    record = await service_of(request).submit(_id(request), data, agent_number=mine, now=now)
    return web.json_response(callback_json(record, now, _max_tries(request)))


async def review_api(request: web.Request) -> web.Response:
    user = require(request, *LEADS)
    now = now_utc(request)
    record = await service_of(request).review(_id(request), user.username, now)
    await audit(request, "callback.review", str(record.id))
    return web.json_response(callback_json(record, now, _max_tries(request)))


async def plan_api(request: web.Request) -> web.Response:
    user = require(request, *LEADS)
    data = await read_json_object(request)
    now = now_utc(request)
    day = _day(data.get("date") or now.astimezone(service_of(request).tz).date().isoformat())
    result = await service_of(request).plan_day(day, now)
    await audit(request, "callback.plan", day.isoformat(), planned=result.planned,
                by=user.username)
    return web.json_response({"date": day.isoformat(), "planned": result.planned,
                              "assigned": result.assigned})


async def upload_api(request: web.Request) -> web.Response:
    require(request, *LEADS)
    data = await read_json_object(request)
    text = data.get("csv")
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("csv", "required")
    now = now_utc(request)
    day = _day(data.get("date") or now.astimezone(service_of(request).tz).date().isoformat())
    result = await service_of(request).upload(text, day, now)
    await audit(request, "callback.upload", day.isoformat(), planned=result.planned)
    return web.json_response({"date": day.isoformat(), "planned": result.planned,
                              "assigned": result.assigned})


async def summary_api(request: web.Request) -> web.Response:
    require(request, *LEADS)
    now = now_utc(request)
    month = _month(request.query.get("month"), now)
    rows = await service_of(request).summary(month, now)
    if request.query.get("format") == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=rules.SUMMARY_COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
        name = f"callbacks-{month:%Y-%m}.csv"
        return web.Response(body=out.getvalue().encode("utf-8-sig"),
                            content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return web.json_response({"month": f"{month:%Y-%m}", "rows": rows})


def _max_tries(request: web.Request) -> int:
    """The configured tries of a keep-my-place call-back (``[callbacks]``)."""
    offers = request.app.get(OFFERS)
    return offers.policy.attempts if offers is not None else keep_place.MAX_TRIES


def _offers(request: web.Request) -> QueueCallbackOffers:
    offers = request.app.get(OFFERS)
    if offers is None:
        raise NotFound("keep-my-place call-backs need the CTI (serve without --no-ami)")
    return offers


async def _agent(request: web.Request) -> str:
    user = require(request, Role.AGENT)
    mine = await _own(request, user)
    if mine is None:  # an administrator: call-backs are taken at an agent's desk
        raise Forbidden("only an agent takes call-backs")
    return mine


async def accept_api(request: web.Request) -> web.Response:
    """The offered call-back is dialled from the agent's phone (the CTI's click to dial)."""
    agent = await _agent(request)
    await read_json_object(request)
    try:
        result = await _offers(request).accept(_id(request), agent, now_utc(request))
    except CtiError as exc:
        raise http_error(exc) from exc
    return web.json_response(result)


async def decline_api(request: web.Request) -> web.Response:
    agent = await _agent(request)
    await read_json_object(request)
    await _offers(request).decline(_id(request), agent, now_utc(request))
    return web.json_response({"callback_id": _id(request), "declined": True})


async def outcome_api(request: web.Request) -> web.Response:
    agent = await _agent(request)
    data = await read_json_object(request)
    now = now_utc(request)
    record = await _offers(request).outcome(_id(request), agent, data.get("reached"), now)
    return web.json_response(callback_json(record, now, _max_tries(request)))


async def open_api(request: web.Request) -> web.Response:
    """A planned or pending 回访 opened on the agent's desk: the regulation asks the agent to
    read the merchant's recent service history before dialling, so the CTI's own card
    (terminals, open tasks, the last calls, complaints) is pushed to the desk's screen pop
    first, and only then the ``opened`` message that lets the desk dial."""
    agent = await _agent(request)
    await read_json_object(request)
    service = service_of(request)
    record = await service.get(_id(request), agent)
    if record.state is CallbackState.DONE or record.place is not None:
        raise ValidationError("callback_id", "a planned or pending 回访")
    linked_id = f"callback-{record.id}"
    card = await _offers(request).desks.card(linked_id, "", "", record.merchant_number)
    merchant = card.get("merchant") or {}
    phones = merchant.get("phones") or []
    number = str(phones[0]) if phones else ""
    card = dict(card, caller=number, script="callback")  # the desk's greeting: identity, purpose
    topic = agent_topic(agent)
    service.hub.publish(topic, {"type": "pop", "partial": False, "linked_id": linked_id,
                                "card": card})
    service.hub.publish(topic, {"type": "service_callback", "event": "opened",
                                "callback_id": record.id, "number": number})
    return web.json_response({"callback_id": record.id, "number": number,
                              "attempts": record.attempts, "card": card})


async def page(request: web.Request) -> web.Response:
    user = require(request, *READERS)
    ctx = ctx_of(request)
    t = i18n.translator(ctx.catalogue, locale_of(request))
    texts = {k: t(k) for k in MESSAGES}
    return render(request, "callbacks/callbacks.html", texts=texts,
                  page={"lead": user.role in LEADS,
                        "today": now_utc(request).astimezone(ctx.tz).date().isoformat()})


def web_module(service: CallbackService, offers: QueueCallbackOffers | None = None
               ) -> WebModule:
    def setup(app: web.Application) -> None:
        app[SERVICE] = service
        if offers is not None:
            app[OFFERS] = offers
        app.router.add_get("/callbacks", page)
        app.router.add_get("/api/callbacks", list_api)
        app.router.add_get("/api/callbacks/summary", summary_api)
        app.router.add_get("/api/callbacks/{callback_id}", detail_api)
        app.router.add_post("/api/callbacks/{callback_id}/form", form_api)
        app.router.add_post("/api/callbacks/{callback_id}/review", review_api)
        app.router.add_post("/api/callbacks/plan", plan_api)
        app.router.add_post("/api/callbacks/upload", upload_api)
        app.router.add_post("/api/callbacks/{callback_id}/accept", accept_api)
        app.router.add_post("/api/callbacks/{callback_id}/decline", decline_api)
        app.router.add_post("/api/callbacks/{callback_id}/outcome", outcome_api)
        app.router.add_post("/api/callbacks/{callback_id}/open", open_api)
        app.router.add_static("/callbacks/static/", STATIC, name="callbacks-static")

    return WebModule(name="callbacks", setup=setup, messages=MESSAGES,
                     template_dirs=[TEMPLATES],
                     links=[PageLink("/callbacks", "callbacks.nav", frozenset(READERS))])
