"""Quality inspection over HTTP (routes added by the recordings module).

=============================================  ==========================================
``GET  /qa``                                   QA page: supervisor (assignments, summary),
                                               agent (own evaluations)
``GET  /api/qa/form``                          the current score sheet: supervisor, agent
``GET  /api/qa/assignments``                   supervisor: own (admin: all, ``?reviewer=``);
                                               ``?day=YYYY-MM-DD&state=assigned|scored``
``POST /api/qa/draw``                          draw a day's sample (``{"day"}``): supervisor
``POST /api/qa/assignments/{id}/review``       submit the score sheet: its reviewer (admin)
``GET  /api/qa/reviews``                       agent: own; supervisor: ``?agent=&token=``
``POST /api/qa/reviews/{id}/answer``           acknowledge or dispute: the evaluated agent
``POST /api/qa/reviews/{id}/correction``       a corrected new version: admin only
``GET  /api/qa/summary``                       ``?month=YYYY-MM[&format=csv]``: supervisor
=============================================  ==========================================

Dispatchers get 403 on every route; admins pass every check.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from callcenter.domain import Role, User
from callcenter.errors import ValidationError
from callcenter.qa_directory import Assignment, Review, StoreQa
from callcenter.web.app import ctx_of, locale_of, now_utc, require
from recording.pages import render_page
from recording.qa_rules import HOTLINE_FORM, QaForm, check_marks, load_form, summarise

QA_FORM = web.AppKey("qa_form", QaForm)


def form_of(form_file: str) -> QaForm:
    """The configured score sheet (``recording.qa_form_file``) or the built-in one."""
    return load_form(Path(form_file).read_text(encoding="utf-8")) if form_file else HOTLINE_FORM


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ValidationError("body", "expected a JSON body") from None
    if not isinstance(body, dict):
        raise ValidationError("body", "expected a JSON object")
    return body


def _day(key: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(key, f"not a date: {text!r}") from None


def _id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise ValidationError("id", "not a number") from None


def assignment_json(a: Assignment) -> dict[str, Any]:
    return {"id": a.id, "token": a.recording_token, "linked_id": a.linked_id,
            "agent": a.agent_number, "reviewer": a.reviewer, "day": a.day.isoformat(),
            "state": a.state, "started_at": a.started_at.isoformat() if a.started_at else None,
            "duration_s": a.duration_s, "queue": a.queue, "merchant": a.merchant,
            "review_id": a.review_id, "audio": f"/recordings/{a.recording_token}"}


def review_json(r: Review) -> dict[str, Any]:
    return {"id": r.id, "assignment_id": r.assignment_id, "token": r.recording_token,
            "linked_id": r.linked_id, "agent": r.agent_number, "reviewer": r.reviewer,
            "form_version": r.form_version, "version": r.version, "passed": r.passed,
            "marks": {k: {"pass": m.passed, "comment": m.comment, "at_s": m.at_s}
                      for k, m in r.marks.items()},
            "comment": r.comment, "created_at": r.created_at.isoformat(),
            "superseded": r.superseded, "supersedes_id": r.supersedes_id,
            "correction_reason": r.correction_reason, "agent_answer": r.agent_answer,
            "agent_answer_note": r.agent_answer_note,
            "agent_answer_at": r.agent_answer_at.isoformat() if r.agent_answer_at else None}


def form_json(form: QaForm, locale: str) -> dict[str, Any]:
    return {"version": form.version, "criteria": [
        {"key": c.key, "title": form.title(c.key, locale)} for c in form.criteria]}


async def _agent_number(request: web.Request, user: User) -> str:
    number = await StoreQa(ctx_of(request).store).agent_of_user(user.id)
    return number or "\x00no-agent"


async def form_api(request: web.Request) -> web.Response:
    require(request, Role.SUPERVISOR, Role.TEAM_LEAD, Role.AGENT)
    return web.json_response(form_json(request.app[QA_FORM], locale_of(request)))


async def assignments_api(request: web.Request) -> web.Response:
    """``{"items": [...]}``: a supervisor's own assignments (admins: everyone's)."""
    user = require(request, Role.SUPERVISOR, Role.TEAM_LEAD)
    reviewer = user.username if user.role is not Role.ADMIN else (
        request.query.get("reviewer") or None)
    day = _day("day", request.query["day"]) if request.query.get("day") else None
    state = request.query.get("state") or None
    if state not in (None, "assigned", "scored"):
        raise ValidationError("state", "assigned or scored")
    items = await StoreQa(ctx_of(request).store).assignments(
        reviewer=reviewer, day=day, state=state, recording_token=request.query.get("token"))
    return web.json_response({"items": [assignment_json(a) for a in items]})


async def draw_api(request: web.Request) -> web.Response:
    require(request, Role.SUPERVISOR, Role.TEAM_LEAD)
    ctx = ctx_of(request)
    body = await _json(request)
    now = now_utc(request)
    day = _day("day", str(body["day"])) if body.get("day") else (
        now.astimezone(ctx.tz).date() - timedelta(days=1))
    settings = ctx.settings.recording
    draws = await StoreQa(ctx.store).draw(day, ctx.tz, now, per_agent=settings.qa_per_agent,
                                         min_seconds=settings.qa_min_seconds)
    return web.json_response({"day": day.isoformat(), "drawn": len(draws)})


async def review_api(request: web.Request) -> web.Response:
    user = require(request, Role.SUPERVISOR, Role.TEAM_LEAD)
    body = await _json(request)
    form = request.app[QA_FORM]
    marks = check_marks(form, body.get("marks"))
    review = await StoreQa(ctx_of(request).store).submit(
        _id(request), user.username, admin=user.role is Role.ADMIN, form=form, marks=marks,
        comment=str(body.get("comment") or ""), now=now_utc(request))
    return web.json_response(review_json(review), status=201)


async def correction_api(request: web.Request) -> web.Response:
    user = require(request, Role.ADMIN)
    body = await _json(request)
    reason = str(body.get("reason") or "").strip()
    if not reason:
        raise ValidationError("reason", "a correction needs a reason")
    form = request.app[QA_FORM]
    review = await StoreQa(ctx_of(request).store).correct(
        _id(request), user.username, form=form, marks=check_marks(form, body.get("marks")),
        comment=str(body.get("comment") or ""), reason=reason, now=now_utc(request))
    return web.json_response(review_json(review), status=201)


async def reviews_api(request: web.Request) -> web.Response:
    user = require(request, Role.SUPERVISOR, Role.TEAM_LEAD, Role.AGENT)
    qa = StoreQa(ctx_of(request).store)
    agent = (await _agent_number(request, user) if user.role is Role.AGENT
             else request.query.get("agent") or None)
    history = request.query.get("history") == "1" and user.role is not Role.AGENT
    items = await qa.reviews(agent_number=agent, recording_token=request.query.get("token"),
                             current_only=not history)
    return web.json_response({"items": [review_json(r) for r in items]})


async def answer_api(request: web.Request) -> web.Response:
    user = require(request, Role.AGENT)
    body = await _json(request)
    answer = body.get("answer")
    if answer not in ("acknowledged", "disputed"):
        raise ValidationError("answer", "acknowledged or disputed")
    note = str(body.get("note") or "")
    if answer == "disputed" and not note.strip():
        raise ValidationError("note", "a dispute needs a reason")
    review = await StoreQa(ctx_of(request).store).answer(
        _id(request), await _agent_number(request, user), answer, note, now_utc(request))
    return web.json_response(review_json(review))


async def summary_api(request: web.Request) -> web.StreamResponse:
    """Per agent and the team, for a month: records, failed, pass rate, disputes, points lost,
    fails per criterion. ``format=csv`` downloads it (UTF-8 with BOM, for spreadsheets)."""
    require(request, Role.SUPERVISOR, Role.TEAM_LEAD)
    ctx = ctx_of(request)
    text = request.query.get("month") or now_utc(request).astimezone(ctx.tz).strftime("%Y-%m")
    try:
        first = datetime.strptime(text + "-01", "%Y-%m-%d").replace(tzinfo=ctx.tz)
    except ValueError:
        raise ValidationError("month", "expected YYYY-MM") from None
    after = (first + timedelta(days=32)).replace(day=1)
    scored = await StoreQa(ctx.store).scored(first, after, ctx.tz)
    lines = summarise(scored, ctx.settings.recording.qa_fails_per_point)
    form = request.app[QA_FORM]
    keys = [c.key for c in form.criteria]
    if request.query.get("format") == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["month", "agent", "records", "failed", "pass_rate", "disputed",
                         "points_lost", *[f"failed_{k}" for k in keys]])
        for line in lines:
            writer.writerow([line.month, line.agent_number or "TEAM", line.records,
                             line.failed, line.pass_rate, line.disputed, line.points_lost,
                             *[line.by_criterion.get(k, 0) for k in keys]])
        return web.Response(
            body=("\ufeff" + out.getvalue()).encode("utf-8"), content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="qa-{text}.csv"'})
    return web.json_response({"month": text, "lines": [{
        "agent": line.agent_number or None, "records": line.records, "failed": line.failed,
        "pass_rate": line.pass_rate, "disputed": line.disputed,
        "points_lost": line.points_lost, "by_criterion": line.by_criterion,
    } for line in lines]})


async def qa_page(request: web.Request) -> web.Response:
    user = require(request, Role.SUPERVISOR, Role.TEAM_LEAD, Role.AGENT)
    return render_page(request, "recording/qa.html", reviewer=user.role is not Role.AGENT,
                       form=form_json(request.app[QA_FORM], locale_of(request)))


def setup_qa(app: web.Application, form_file: str) -> None:
    app[QA_FORM] = form_of(form_file)
    r = app.router
    r.add_get("/qa", qa_page)
    r.add_get("/api/qa/form", form_api)
    r.add_get("/api/qa/assignments", assignments_api)
    r.add_post("/api/qa/draw", draw_api)
    r.add_post("/api/qa/assignments/{id}/review", review_api)
    r.add_get("/api/qa/reviews", reviews_api)
    r.add_post("/api/qa/reviews/{id}/answer", answer_api)
    r.add_post("/api/qa/reviews/{id}/correction", correction_api)
    r.add_get("/api/qa/summary", summary_api)
