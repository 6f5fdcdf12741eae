"""The reports over HTTP: the ``/reports`` page, the KPI API and its CSV/XLSX export.

Routes (supervisors and admins see every agent; a team lead sees its own team's agents:
the calls they took, what they staffed; ``callcenter/reports/teams.py``):

=====================================  ==============================================
``GET /reports``                       page: day/week/month, charts, drill-down
                                       (``?period=day|week|month&date=YYYY-MM-DD``
                                       ``&queue=…&agent=…``)
``GET /api/reports/kpi``               ``?from=YYYY-MM-DD&to=YYYY-MM-DD&group=…``
                                       (queue, agent, hour, interval15, interval30,
                                       hour_of_day, day, week, month, total) JSON;
                                       ``&format=csv`` or ``&format=xlsx`` for files;
                                       ``&queue=``/``&agent=`` filter
``GET /api/reports/calls``             the calls behind a row (drill-down), JSON
``GET /staffing``                      page: a day's forecast, Erlang C / Erlang A agents,
                                       roster need and what was staffed (``?date=``)
``GET /api/staffing``                  ``?from=&to=``: the staffing table, JSON
``GET /reports/static/…``              the page's stylesheet (public, like /static/)
=====================================  ==============================================
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final

from aiohttp import web
from markupsafe import Markup

from callcenter.domain import Role
from callcenter.errors import ValidationError
from callcenter.reports import charts
from callcenter.reports.export import to_csv, to_xlsx
from callcenter.reports.kpi import KPI_FIELDS
from callcenter.reports.periods import Group
from callcenter.reports.ports import TeamDirectory
from callcenter.reports.service import KpiReport, ReportService, StaffingView
from callcenter.reports.staffing import seat_hours
from callcenter.reports.teams import TEAMS, check_agent, scope
from callcenter.web import i18n
from callcenter.web.app import (
    PageLink,
    WebModule,
    ctx_of,
    locale_of,
    now_utc,
    render,
    require,
)

__all__ = ["READERS", "ROUTES", "web_module"]

READERS: Final = (Role.SUPERVISOR, Role.TEAM_LEAD, Role.ADMIN)
ROUTES: Final = (("GET", "/reports"), ("GET", "/api/reports/kpi"),
                 ("GET", "/api/reports/calls"), ("GET", "/staffing"), ("GET", "/api/staffing"))
"""Every route of this module, for the route × role tests (all: supervisor and admin)."""

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
SERVICE = web.AppKey("reports_service", ReportService)
MAX_DAYS = 400

MESSAGES: Final[dict[str, dict[str, str]]] = {
    "reports.nav": {"zh-CN": "统计报表", "en": "Reports"},
    "reports.title": {"zh-CN": "统计报表", "en": "Reports"},
    "reports.period.day": {"zh-CN": "日报", "en": "Day"},
    "reports.period.week": {"zh-CN": "周报", "en": "Week"},
    "reports.period.month": {"zh-CN": "月报", "en": "Month"},
    "reports.prev": {"zh-CN": "上一期", "en": "Previous"},
    "reports.next": {"zh-CN": "下一期", "en": "Next"},
    "reports.all_queues": {"zh-CN": "全部队列", "en": "All queues"},
    "reports.by_queue": {"zh-CN": "按队列", "en": "By queue"},
    "reports.by_agent": {"zh-CN": "按坐席", "en": "By agent"},
    "reports.by_time": {"zh-CN": "按时段", "en": "By interval"},
    "reports.calls": {"zh-CN": "通话明细", "en": "Calls"},
    "reports.no_agent": {"zh-CN": "（未接通）", "en": "(not answered)"},
    "reports.chart.volume": {"zh-CN": "呼入量", "en": "Call volume"},
    "reports.chart.rates": {"zh-CN": "接通率与服务水平", "en": "Answer rate and service level"},
    "reports.export": {"zh-CN": "导出", "en": "Export"},
    "reports.team_view": {"zh-CN": "班组视图：仅含本组 {n} 名坐席",
                          "en": "Team view: your team's {n} agents only"},
    "reports.complaints": {"zh-CN": "投诉 {n} 件，重复投诉率 {rate}",
                           "en": "{n} complaints, repeat-complaint rate {rate}"},
    "reports.target": {"zh-CN": "目标", "en": "Target"},
    "reports.definitions": {"zh-CN": "服务水平：{s} 秒内接听；接通率目标 {rate}",
                            "en": "Service level: answered within {s} s; answer-rate "
                                  "target {rate}"},
    "reports.col.group": {"zh-CN": "分组", "en": "Group"},
    "reports.col.offered": {"zh-CN": "呼入", "en": "Offered"},
    "reports.col.answered": {"zh-CN": "接通", "en": "Answered"},
    "reports.col.abandoned": {"zh-CN": "放弃", "en": "Abandoned"},
    "reports.col.short_abandoned": {"zh-CN": "短时放弃", "en": "Short abandons"},
    "reports.col.callback_requested": {"zh-CN": "预约回拨", "en": "Call-backs requested"},
    "reports.col.ivr_only": {"zh-CN": "IVR 自助", "en": "IVR only"},
    "reports.col.answer_rate": {"zh-CN": "接通率", "en": "Answer rate"},
    "reports.col.service_level": {"zh-CN": "服务水平", "en": "Service level"},
    "reports.col.asa_s": {"zh-CN": "平均应答(秒)", "en": "ASA (s)"},
    "reports.col.aht_s": {"zh-CN": "平均处理(秒)", "en": "AHT (s)"},
    "reports.col.avg_abandon_wait_s": {"zh-CN": "放弃前等待(秒)", "en": "Abandon wait (s)"},
    "reports.col.transferred": {"zh-CN": "转接", "en": "Transferred"},
    "reports.col.fcr": {"zh-CN": "一次性解决率", "en": "First-contact resolution"},
    "reports.col.repeat_rate": {"zh-CN": "重复来电率", "en": "Repeat rate"},
    "reports.col.record_completeness": {"zh-CN": "记录完整率", "en": "Record completeness"},
    "reports.col.satisfaction_avg": {"zh-CN": "满意度(均分)", "en": "Satisfaction"},
    "reports.col.satisfied_rate": {"zh-CN": "满意率", "en": "Satisfied"},
    "reports.call.time": {"zh-CN": "时间", "en": "Time"},
    "reports.call.outcome": {"zh-CN": "结果", "en": "Outcome"},
    "reports.call.wait": {"zh-CN": "等待(秒)", "en": "Wait (s)"},
    "reports.call.talk": {"zh-CN": "通话(秒)", "en": "Talk (s)"},
    "reports.call.disposition": {"zh-CN": "小结", "en": "Wrap-up"},
    "staffing.nav": {"zh-CN": "人力预测", "en": "Staffing"},
    "staffing.title": {"zh-CN": "话务预测与人力需求", "en": "Forecast and staffing"},
    "staffing.error": {"zh-CN": "预测误差（留出 {weeks} 周）：时段 WAPE {interval}，"
                                "日 WAPE {day}，偏差 {bias}；"
                                "历史 {days} 天；平均耐心 {patience} 秒",
                       "en": "Forecast error on {weeks} held-out weeks: interval WAPE {interval}, "
                             "day WAPE {day}, bias {bias}; {days} days of history; "
                             "mean patience {patience} s"},
    "staffing.seat_hours": {"zh-CN": "座席小时：Erlang C {c}，Erlang A {a}，"
                                     "排班（含缺勤率）{r}，实际 {s}",
                            "en": "Seat-hours: Erlang C {c}, Erlang A {a}, roster (with "
                                  "shrinkage) {r}, staffed {s}"},
    "staffing.chart": {"zh-CN": "每 30 分钟所需坐席", "en": "Agents per 30 minutes"},
    "staffing.col.start": {"zh-CN": "时段", "en": "Interval"},
    "staffing.col.calls": {"zh-CN": "预测来电", "en": "Calls"},
    "staffing.col.aht_s": {"zh-CN": "处理时长(秒)", "en": "AHT (s)"},
    "staffing.col.erlang_c": {"zh-CN": "Erlang C", "en": "Erlang C"},
    "staffing.col.erlang_a": {"zh-CN": "Erlang A", "en": "Erlang A"},
    "staffing.col.floor": {"zh-CN": "规定下限", "en": "Floor"},
    "staffing.col.roster_a": {"zh-CN": "排班需求", "en": "Roster need"},
    "staffing.col.expected": {"zh-CN": "预计接通率/服务水平", "en": "Expected answer rate / SL"},
    "staffing.col.staffed": {"zh-CN": "实际在线", "en": "Staffed"},
}

PAGE_COLUMNS: Final = ("offered", "answered", "abandoned", "callback_requested", "answer_rate",
                       "service_level", "asa_s", "aht_s", "fcr", "record_completeness",
                       "satisfaction_avg")
RATES: Final = frozenset({"answer_rate", "service_level", "fcr", "repeat_rate",
                          "record_completeness", "satisfied_rate"})


def _date(request: web.Request, name: str, default: date | None = None) -> date:
    raw = request.query.get(name, "")
    if not raw and default is not None:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(name, f"{name} must be a date YYYY-MM-DD") from None


def _group(raw: str) -> Group:
    try:
        return Group(raw)
    except ValueError:
        names = ", ".join(g.value for g in Group)
        raise ValidationError("group", f"must be one of {names}") from None


def _filters(request: web.Request) -> tuple[str | None, str | None]:
    queue = request.query.get("queue")
    agent = request.query.get("agent")
    return (queue if queue is not None else None, agent if agent is not None else None)


def _range(request: web.Request) -> tuple[date, date]:
    first = _date(request, "from")
    last = _date(request, "to", first)
    if last < first:
        raise ValidationError("to", "to is before from")
    if (last - first).days >= MAX_DAYS:
        raise ValidationError("to", f"at most {MAX_DAYS} days")
    return first, last


async def kpi_api(request: web.Request) -> web.StreamResponse:
    """``GET /api/reports/kpi``: ``{"from", "to", "group", "rows": [...], "total": {...}}``
    (each row: ``group`` and every figure of docs/kpi.md), or CSV / XLSX."""
    user = require(request, *READERS)
    first, last = _range(request)
    group = _group(request.query.get("group", "queue"))
    queue, agent = _filters(request)
    team = await scope(request, user)
    check_agent(team, agent)
    report = await request.app[SERVICE].kpi(first, last, group, queue=queue, agent=agent,
                                            agents=team)
    fmt = request.query.get("format", "json")
    name = f"kpi-{group.value}-{first.isoformat()}-{last.isoformat()}"
    if fmt == "csv":
        return web.Response(body=to_csv(report).encode("utf-8-sig"), headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}.csv"'})
    if fmt == "xlsx":
        return web.Response(body=to_xlsx(report), headers={
            "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    if fmt != "json":
        raise ValidationError("format", "format must be json, csv or xlsx")
    return web.json_response(report_json(report))


def report_json(report: KpiReport) -> dict[str, Any]:
    """The API's body for a report."""
    return {"from": report.first.isoformat(), "to": report.last.isoformat(),
            "group": report.group.value, "rows": [r.as_json() for r in report.rows],
            "total": report.total.as_json(),
            "complaints": {"count": report.complaints, "repeats": report.repeat_complaints,
                           "repeat_rate": report.repeat_complaint_rate},
            # the definitions in force (the run-time settings of /admin)
            "definitions": {"service_level_s": report.service_level_s,
                            "answer_rate_target": report.targets.answer_rate}}


async def calls_api(request: web.Request) -> web.Response:
    """``GET /api/reports/calls?from&to&queue&agent``: the calls behind a report row."""
    user = require(request, *READERS)
    first, last = _range(request)
    queue, agent = _filters(request)
    team = await scope(request, user)
    check_agent(team, agent)
    found = await request.app[SERVICE].calls(first, last, queue=queue, agent=agent,
                                             agents=team)
    return web.json_response({"calls": [
        {"linked_id": c.linked_id, "arrived_at": c.arrived_at.isoformat(), "queue": c.queue,
         "agent": c.agent, "outcome": c.outcome, "wait_s": c.wait_s, "talk_s": c.talk_s,
         "disposition": c.disposition, "satisfaction": c.satisfaction} for c in found]})


def period_of(kind: str, day: date) -> tuple[date, date, date, date, Group]:
    """``(first, last, previous, next, time grouping)`` of the day/week/month holding
    ``day``."""
    if kind == "week":
        first = day - timedelta(days=day.weekday())
        return first, first + timedelta(days=6), first - timedelta(days=7), \
            first + timedelta(days=7), Group.DAY
    if kind == "month":
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return first, following - timedelta(days=1), \
            (first - timedelta(days=1)).replace(day=1), following, Group.DAY
    return day, day, day - timedelta(days=1), day + timedelta(days=1), Group.HOUR


def _short(key: str, group: Group) -> str:
    if group is Group.HOUR:
        return key[11:13]
    if group is Group.DAY:
        return key[5:]
    return key


async def page(request: web.Request) -> web.Response:
    """``GET /reports``: a period's KPIs by time (charts), by queue and by agent; a queue
    narrows the agents, an agent shows its calls."""
    user = require(request, *READERS)
    ctx = ctx_of(request)
    service = request.app[SERVICE]
    team = await scope(request, user)
    kind = request.query.get("period", "day")
    if kind not in ("day", "week", "month"):
        raise ValidationError("period", "period must be day, week or month")
    day = _date(request, "date", now_utc(request).astimezone(ctx.tz).date())
    first, last, previous, following, by_time = period_of(kind, day)
    queue, agent = _filters(request)
    check_agent(team, agent)
    timeline = await service.kpi(first, last, by_time, queue=queue, agent=agent, agents=team)
    queues = await service.kpi(first, last, Group.QUEUE, agents=team)
    agents = await service.kpi(first, last, Group.AGENT, queue=queue, agents=team)
    calls = await service.calls(first, last, queue=queue, agent=agent, agents=team) \
        if agent is not None else ()
    labels = [_short(r.group, by_time) for r in timeline.rows]
    t = i18n.translator(ctx.catalogue, locale_of(request))
    def series(name: str, colour: str) -> charts.Series:
        return charts.Series(t(f"reports.col.{name}"),
                             [_float(r.figures[name]) for r in timeline.rows], colour)

    volume = charts.bars("volume", labels, [series("offered", "#8aa4c8"),
                                            series("answered", "#2f6db5")])
    rates = charts.lines("rates", labels, [series("answer_rate", "#2f6db5"),
                                           series("service_level", "#e08a00")],
        target=timeline.targets.answer_rate)
    return render(request, "reports/reports.html", kind=kind, day=day, first=first, last=last,
                  previous=previous, following=following, by_time=by_time, queue=queue,
                  agent=agent, timeline=timeline, queues=queues, agents=agents, calls=calls,
                  team=team, columns=PAGE_COLUMNS, rates=RATES,
                  volume_svg=Markup(volume),  # noqa: S704
                  rates_svg=Markup(rates), all_columns=KPI_FIELDS)  # noqa: S704


async def staffing_api(request: web.Request) -> web.Response:
    """``GET /api/staffing?from&to``: the staffing table of those days."""
    user = require(request, *READERS)
    first, last = _range(request)
    if (last - first).days > 62:
        raise ValidationError("to", "at most 63 days")
    ctx = ctx_of(request)
    view = await request.app[SERVICE].staffing(
        first, last, today=now_utc(request).astimezone(ctx.tz).date(),
        agents=await scope(request, user))
    return web.json_response(staffing_json(view))


def staffing_json(view: StaffingView) -> dict[str, Any]:
    """The API's body for a staffing view."""
    return {
        "rows": [{"start": r.start.isoformat(), "calls": round(r.calls, 2),
                  "aht_s": round(r.aht_s, 1), "erlang_c": r.erlang_c, "erlang_a": r.erlang_a,
                  "floor": r.floor, "roster_c": r.roster_c, "roster_a": r.roster_a,
                  "expected_answer_rate": round(r.expected_answer_rate, 4),
                  "expected_service_level": round(r.expected_service_level, 4),
                  "staffed": None if r.staffed is None else round(r.staffed, 2)}
                 for r in view.rows],
        "seat_hours": {k: seat_hours(view.rows, k)
                       for k in ("erlang_c", "erlang_a", "roster_c", "roster_a", "floor")},
        "forecast_error": {"holdout_weeks": view.error.weeks,
                           "wape_interval": view.error.wape_interval,
                           "wape_day": view.error.wape_day, "bias": view.error.bias},
        "patience_s": round(view.patience_s, 1), "history_days": view.history_days,
    }


async def staffing_page(request: web.Request) -> web.Response:
    """``GET /staffing?date=``: one day's 48 intervals."""
    user = require(request, *READERS)
    ctx = ctx_of(request)
    today = now_utc(request).astimezone(ctx.tz).date()
    day = _date(request, "date", today)
    team = await scope(request, user)
    view = await request.app[SERVICE].staffing(day, day, today=today, agents=team)
    t = i18n.translator(ctx.catalogue, locale_of(request))
    labels = [r.start.strftime("%H") if r.start.minute == 0 else "" for r in view.rows]
    chart = charts.bars("staffing", [r.start.strftime("%H:%M") for r in view.rows], [
        charts.Series(t("staffing.col.erlang_c"), [float(r.erlang_c) for r in view.rows],
                      "#c8c8c8"),
        charts.Series(t("staffing.col.roster_a"), [float(r.roster_a) for r in view.rows],
                      "#2f6db5"),
        charts.Series(t("staffing.col.staffed"), [r.staffed for r in view.rows], "#e08a00")])
    staffed = sum(r.staffed or 0.0 for r in view.rows) / 2

    def pct(value: float | None) -> str:
        return "–" if value is None else f"{value:.1%}"

    return render(request, "reports/staffing.html", day=day, view=view, labels=labels,
                  chart=Markup(chart),  # noqa: S704
                  error_line=t("staffing.error", weeks=view.error.weeks,
                               interval=pct(view.error.wape_interval),
                               day=pct(view.error.wape_day), bias=pct(view.error.bias),
                               days=view.history_days, patience=f"{view.patience_s:.0f}"),
                  hours_line=t("staffing.seat_hours",
                               c=f"{seat_hours(view.rows, 'erlang_c'):.1f}",
                               a=f"{seat_hours(view.rows, 'erlang_a'):.1f}",
                               r=f"{seat_hours(view.rows, 'roster_a'):.1f}",
                               s=f"{staffed:.1f}"),
                  team=team, previous=day - timedelta(days=1),
                  following=day + timedelta(days=1))


def _float(value: int | float | None) -> float | None:
    return None if value is None else float(value)


def web_module(service: ReportService, teams: TeamDirectory) -> WebModule:
    """The reports' routes, texts, template and home-page link."""

    def setup(app: web.Application) -> None:
        app[SERVICE] = service
        app[TEAMS] = teams
        app.router.add_get("/reports", page)
        app.router.add_get("/api/reports/kpi", kpi_api)
        app.router.add_get("/api/reports/calls", calls_api)
        app.router.add_get("/staffing", staffing_page)
        app.router.add_get("/api/staffing", staffing_api)
        app.router.add_static("/reports/static/", STATIC, name="reports-static")

    return WebModule(name="reports", setup=setup, messages=MESSAGES, template_dirs=[TEMPLATES],
                     links=[PageLink("/reports", "reports.nav", frozenset(READERS)),
                            PageLink("/staffing", "staffing.nav", frozenset(READERS))])
