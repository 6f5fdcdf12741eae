"""The roster over HTTP: the month's grid with every broken rule, hand edits, swaps.

=========================================  ===============================================
``GET /roster?month=YYYY-MM``              page (supervisor, admin: everything; team lead:
                                           its team's rows, their rule breaks and swaps and
                                           the hotline's coverage; agents: the grid, their
                                           own row marked, their swaps)
``POST /roster/upload``                    supervisor/admin: keep an edited roster CSV
                                           (the whole hotline's month)
``POST /roster/swaps``                     agent (for themself), team lead (its team) or
                                           supervisor/admin: ask for a swap
``POST /roster/swaps/{id}/approve``        team lead (its team's swaps), supervisor/admin
``POST /roster/swaps/{id}/reject``         team lead (its team's swaps), supervisor/admin
``GET /api/roster?month=&format=csv|json`` supervisor/admin, agents; team lead: its team
=========================================  ===============================================

The forms post JSON (``static/roster.js``) and the page reloads.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from callcenter.domain import Role, User
from callcenter.errors import ValidationError
from callcenter.reports.ports import TeamDirectory
from callcenter.reports.roster import Roster, to_csv
from callcenter.reports.roster_service import RosterService, RosterView
from callcenter.reports.teams import TEAMS, scope
from callcenter.web.app import (
    Forbidden,
    PageLink,
    WebModule,
    ctx_of,
    now_utc,
    read_json_object,
    render,
    require,
)

__all__ = ["ROUTES", "web_module"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
SERVICE = web.AppKey("roster_service", RosterService)
DECIDERS: Final = (Role.SUPERVISOR, Role.TEAM_LEAD, Role.ADMIN)
UPLOADERS: Final = (Role.SUPERVISOR, Role.ADMIN)
READERS: Final = (Role.SUPERVISOR, Role.TEAM_LEAD, Role.ADMIN, Role.AGENT)
ROUTES: Final = {
    ("GET", "/roster"): READERS,
    ("POST", "/roster/upload"): UPLOADERS,
    ("POST", "/roster/swaps"): READERS,
    ("POST", "/roster/swaps/{id}/approve"): DECIDERS,
    ("POST", "/roster/swaps/{id}/reject"): DECIDERS,
    ("GET", "/api/roster"): READERS,
}
"""Every route and the roles that may use it (admins pass every check)."""

MESSAGES: Final[dict[str, dict[str, str]]] = {
    "roster.nav": {"zh-CN": "排班表", "en": "Roster"},
    "roster.title": {"zh-CN": "排班表", "en": "Roster"},
    "roster.none": {"zh-CN": "本月还没有排班表（callcenter roster generate --month …）",
                    "en": "No roster for this month yet (callcenter roster generate --month …)"},
    "roster.ok": {"zh-CN": "未违反任何排班规则", "en": "No scheduling rule is broken"},
    "roster.broken": {"zh-CN": "违反规则 {n} 处", "en": "{n} rule(s) broken"},
    "roster.upload": {"zh-CN": "上传修改后的排班表 (CSV)", "en": "Upload an edited roster (CSV)"},
    "roster.leave_file": {"zh-CN": "已批准的请假 (CSV，可选)",
                          "en": "Approved leave (CSV, optional)"},
    "roster.save": {"zh-CN": "保存", "en": "Save"},
    "roster.swaps": {"zh-CN": "调班申请", "en": "Shift swaps"},
    "roster.swap.ask": {"zh-CN": "申请调班", "en": "Ask for a swap"},
    "roster.swap.with": {"zh-CN": "与", "en": "with"},
    "roster.swap.on": {"zh-CN": "日期", "en": "on"},
    "roster.swap.approve": {"zh-CN": "批准", "en": "Approve"},
    "roster.swap.reject": {"zh-CN": "驳回", "en": "Reject"},
    "roster.swap.pending": {"zh-CN": "待审批", "en": "pending"},
    "roster.swap.approved": {"zh-CN": "已批准", "en": "approved"},
    "roster.swap.rejected": {"zh-CN": "已驳回", "en": "rejected"},
    "roster.swap.would_break": {"zh-CN": "批准后将违反：", "en": "Would break:"},
    "roster.legend": {"zh-CN": "D 08–20 · M 09–21 · N 20–08（大夜）· 0730+8 即 07:30 起 8 小时 · "
                               "O 休息 · L 请假",
                      "en": "D 08–20 · M 09–21 · N 20–08 (big night) · 0730+8: 8 hours from "
                            "07:30 · O rest · L leave"},
    "roster.team_view": {"zh-CN": "班组视图：仅含本组 {n} 名坐席（覆盖率为全热线）",
                         "en": "Team view: your team's {n} agents only (coverage is the "
                               "whole hotline's)"},
}


def _month(request: web.Request, raw: str | None = None) -> str:
    month = raw if raw is not None else request.query.get("month", "")
    if not month:
        today = now_utc(request).astimezone(ctx_of(request).tz).date()
        return f"{today.year}-{today.month:02d}"
    return month


async def _agent_number(request: web.Request, user: User) -> str | None:
    agent = await ctx_of(request).store.agents.by_user(user.id)
    return agent.agent_number if agent is not None else None


def narrow(view: RosterView, team: frozenset[str] | None) -> RosterView:
    """The view a team lead gets: its team's rows, their rule breaks and swaps, and the
    hotline's own (coverage) breaks. ``team`` None: the whole view."""
    if team is None:
        return view
    roster = None if view.roster is None else Roster(
        view.roster.year, view.roster.month,
        {a: c for a, c in view.roster.codes.items() if a in team})
    return replace(view, roster=roster,
                   violations=tuple(v for v in view.violations if not v.agent or v.agent in team),
                   swaps=tuple(s for s in view.swaps
                               if s.swap.agent_a in team or s.swap.agent_b in team))


async def page(request: web.Request) -> web.Response:
    user = require(request, *READERS)
    team = await scope(request, user)
    view = narrow(await request.app[SERVICE].view(_month(request)), team)
    mine = await _agent_number(request, user) if user.role is Role.AGENT else None
    swaps = [s for s in view.swaps
             if mine is None or mine in (s.swap.agent_a, s.swap.agent_b)]
    return render(request, "reports/roster.html", view=view, mine=mine, swaps=swaps,
                  decider=user.role in DECIDERS, uploader=user.role in UPLOADERS, team=team,
                  days=view.roster.days if view.roster else [])


async def upload(request: web.Request) -> web.Response:
    """``{"month", "roster": CSV text, "leave": CSV text}`` (the page reads the files and posts
    JSON, like every state-changing route) → ``{"month", "redirect"}``."""
    user = require(request, *UPLOADERS)
    body = await read_json_object(request)
    month = _month(request, _text(body, "month"))
    await request.app[SERVICE].upload(month, _text(body, "roster").removeprefix("\ufeff"),
                                      _text(body, "leave").removeprefix("\ufeff"),
                                      user.username, now_utc(request))
    return _done(month)


async def ask_swap(request: web.Request) -> web.Response:
    """``{"month", "agent"?, "other", "day"}``: an agent asks for their own shift only."""
    user = require(request, *READERS)
    body = await read_json_object(request)
    month = _month(request, _text(body, "month"))
    agent = _text(body, "agent")
    if user.role is Role.AGENT:
        mine = await _agent_number(request, user)
        if mine is None or agent not in ("", mine):
            raise Forbidden("agents ask for swaps of their own shifts")
        agent = mine
    try:
        day = date.fromisoformat(_text(body, "day"))
    except ValueError:
        raise ValidationError("day", "YYYY-MM-DD") from None
    team = await scope(request, user)
    if team is not None and not {agent, _text(body, "other")} <= team:
        raise Forbidden("a team lead asks for swaps within its team")
    await request.app[SERVICE].request_swap(month, agent, _text(body, "other"), day,
                                            user.username, now_utc(request))
    return _done(month)


async def decide(request: web.Request) -> web.Response:
    user = require(request, *DECIDERS)
    try:
        swap_id = int(request.match_info["id"])
    except ValueError:
        raise ValidationError("id", "a number") from None
    approve = request.path.endswith("/approve")
    team = await scope(request, user)
    if team is not None:
        pending = await request.app[SERVICE].store.swap(swap_id)
        if pending is not None and not {pending.agent_a, pending.agent_b} <= team:
            raise Forbidden("a team lead decides its own team's swaps")
    line = await request.app[SERVICE].decide(swap_id, approve, user.username, now_utc(request))
    return _done(line.month)


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name, "")
    if not isinstance(value, str):
        raise ValidationError(name, "expected text")
    return value


def _done(month: str) -> web.Response:
    return web.json_response({"month": month, "redirect": f"/roster?month={month}"})


async def export(request: web.Request) -> web.Response:
    user = require(request, *READERS)
    month = _month(request)
    team = await scope(request, user)
    view = narrow(await request.app[SERVICE].view(month), team)
    if view.stored is None:
        return web.json_response({"month": month, "roster": None}, status=404)
    if request.query.get("format") == "csv":
        disposition = f'attachment; filename="roster-{month}.csv"'
        text = view.stored.roster_csv if team is None or view.roster is None \
            else to_csv(view.roster)
        return web.Response(text=text, content_type="text/csv",
                            charset="utf-8", headers={"Content-Disposition": disposition})
    body: dict[str, Any] = {
        "month": month, "roster": view.roster.codes if view.roster else None,
        "violations": [{"rule": v.rule, "agent": v.agent,
                        "day": v.day.isoformat() if v.day else None, "detail": v.detail}
                       for v in view.violations],
        "swaps": [{"id": s.swap.id, "a": s.swap.agent_a, "b": s.swap.agent_b,
                   "day": s.swap.day.isoformat(), "state": s.swap.state} for s in view.swaps]}
    return web.json_response(body)


def web_module(service: RosterService, teams: TeamDirectory) -> WebModule:
    """The roster's routes, texts, template and home-page link."""

    def setup(app: web.Application) -> None:
        app[SERVICE] = service
        app[TEAMS] = teams
        app.router.add_get("/roster", page)
        app.router.add_post("/roster/upload", upload)
        app.router.add_post("/roster/swaps", ask_swap)
        app.router.add_post("/roster/swaps/{id}/approve", decide)
        app.router.add_post("/roster/swaps/{id}/reject", decide)
        app.router.add_get("/api/roster", export)

    return WebModule(name="roster", setup=setup, messages=MESSAGES, template_dirs=[TEMPLATES],
                     links=[PageLink("/roster", "roster.nav", frozenset(DECIDERS))])
