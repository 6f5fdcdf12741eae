"""Pages of the business records: the dispatcher board (live over a WebSocket), the task page,
the alerts list and the team lead's daily complaint summary; plus the :class:`WebModule` that
puts them and the JSON API (:mod:`callcenter.business.web`) into the web app.

The board page embeds its first rows as JSON and ``board.js`` (served by the product: no CDN)
renders them, then listens on ``/ws/board`` (hub topic ``board``): any task, delivery or alert
message makes it fetch ``/api/board/tasks`` again with the current filters, so a new repair
appears without a reload. The socket is authorised before ``ws.prepare()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from callcenter.business import presentation
from callcenter.business.business_protocol import iso
from callcenter.business.messages import MESSAGES
from callcenter.business.service import BusinessService
from callcenter.business.web import (
    SERVICE,
    WEBHOOK_PATH,
    board_filter,
    parse_day,
    service_of,
    setup_api,
)
from callcenter.domain import Role, TaskKind, TaskStatus
from callcenter.topics import BOARD_TOPIC
from callcenter.web import i18n
from callcenter.web.app import (
    PageLink,
    WebModule,
    ctx_of,
    locale_of,
    now_utc,
    render,
    require,
    require_same_origin,
    session_socket,
)

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_ROUTE = "business_static"


def _asset(request: web.Request, filename: str) -> str:
    return str(request.app.router[STATIC_ROUTE].url_for(filename=filename))


def _texts(request: web.Request) -> dict[str, str]:
    t = i18n.translator(ctx_of(request).catalogue, locale_of(request))
    return {key: t(key) for key in MESSAGES}


def _page(request: web.Request, template: str, **values: Any) -> web.Response:
    return render(request, template, asset=lambda f: _asset(request, f),
                  texts=_texts(request), **values)


async def board_page(request: web.Request) -> web.Response:
    require(request, Role.DISPATCHER)
    service = service_of(request)
    now = now_utc(request)
    flt = board_filter(request)
    views = await service.board(flt, now)
    stats = await service.repo.outbox_stats()
    mode = "external" if service.external else "local"
    initial = {
        "now": iso(now), "mode": mode, "dead_letters": stats.dead,
        "tasks": [presentation.view_json(v, now, service.tz,
                                         board_actions=not service.external) for v in views],
    }
    return _page(request, "business/board.html", initial=initial, flt=flt, mode=mode,
                 kinds=[k.value for k in TaskKind], statuses=[s.value for s in TaskStatus],
                 districts=await service.repo.districts(), dead=stats.dead)


async def board_socket(request: web.Request) -> web.WebSocketResponse:
    # Authorise before the upgrade: a refused socket never opens.
    user = require(request, Role.DISPATCHER)
    require_same_origin(request)
    ws = web.WebSocketResponse(heartbeat=30.0)
    await ws.prepare(request)
    with session_socket(request, ws):
        await ctx_of(request).hub.serve(ws, [BOARD_TOPIC], label=f"board {user.username}",
                                        hello={"type": "hello"})
    return ws


async def task_page(request: web.Request) -> web.Response:
    user = require(request, Role.DISPATCHER, Role.SUPERVISOR, Role.TEAM_LEAD)
    service = service_of(request)
    detail = await service.detail(request.match_info["task_number"])
    can_act = user.role in (Role.DISPATCHER, Role.ADMIN) and not service.external
    data = presentation.detail_json(detail, now_utc(request), service.tz,
                                    board_actions=can_act)
    return _page(request, "business/task.html", task=data, can_act=can_act,
                 mode="external" if service.external else "local")


async def alerts_page(request: web.Request) -> web.Response:
    user = require(request, Role.DISPATCHER, Role.SUPERVISOR, Role.TEAM_LEAD)
    service = service_of(request)
    now = now_utc(request)
    alerts = await service.alerts(now)
    tz = service.tz
    return _page(
        request, "business/alerts.html", count=alerts.count,
        dead=[presentation.dead_letter_json(d, tz) for d in alerts.dead_letters],
        overdue=[presentation.view_json(v, now, tz, board_actions=False)
                 for v in alerts.overdue_tasks],
        complaints=[presentation.complaint_json(c, now, tz) for c, _ in alerts.complaints],
        unlogged=[{"linked_id": u.linked_id, "agent_number": u.agent_number,
                   "caller_number": u.caller_number,
                   "ended_local": presentation.local(u.ended_at, tz),
                   "clock": presentation.clock_json(k, now, tz)}
                  for u, k in alerts.unlogged_calls],
        callbacks=[{"merchant_name": cb.merchant_name, "purpose": cb.purpose,
                    "agent_number": cb.agent_number,
                    "clock": presentation.clock_json(k, now, tz)} for cb, k in alerts.callbacks],
        can_requeue=user.role in (Role.DISPATCHER, Role.ADMIN),
        can_handle_complaints=user.role in (Role.SUPERVISOR, Role.TEAM_LEAD, Role.ADMIN),
    )


async def complaints_page(request: web.Request) -> web.Response:
    require(request, Role.SUPERVISOR, Role.TEAM_LEAD)
    service = service_of(request)
    day = parse_day(request)
    now = now_utc(request)
    class1, class2 = await service.daily_complaints(day)
    return _page(request, "business/complaints_daily.html", day=day.isoformat(),
                 class1=[presentation.complaint_json(c, now, service.tz) for c in class1],
                 class2=[presentation.complaint_json(c, now, service.tz) for c in class2])


def setup_pages(app: web.Application) -> None:
    r = app.router
    r.add_get("/board", board_page)
    r.add_get("/board/tasks/{task_number}", task_page)
    r.add_get("/ws/board", board_socket)
    r.add_get("/alerts", alerts_page)
    r.add_get("/complaints/daily", complaints_page)
    r.add_static("/business/static/", STATIC, append_version=True, name=STATIC_ROUTE)


def web_module(service: BusinessService) -> WebModule:
    """The business pages and API, bound to ``service``."""

    def setup(app: web.Application) -> None:
        app[SERVICE] = service
        setup_api(app)
        setup_pages(app)

    return WebModule(
        name="business", setup=setup, messages=MESSAGES, template_dirs=[TEMPLATES],
        signed_paths=[WEBHOOK_PATH],
        links=[
            PageLink("/board", "business.nav.board", frozenset({Role.DISPATCHER})),
            PageLink("/alerts", "business.nav.alerts",
                     frozenset({Role.SUPERVISOR, Role.TEAM_LEAD})),
            PageLink("/complaints/daily", "business.nav.complaints",
                     frozenset({Role.SUPERVISOR, Role.TEAM_LEAD})),
        ],
    )
