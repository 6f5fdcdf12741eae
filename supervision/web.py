"""Supervision over HTTP: the wallboard page, its live WebSocket and the monitoring API.

=======  ==========================  ==================  ====================================
method   path                        role                what
=======  ==========================  ==================  ====================================
GET      /wallboard                  supervisor, admin   the page (``?view=tv``: wall TV)
GET      /ws/wallboard               supervisor, admin   hello = the board, then ``wallboard``
                                                         and ``alert`` messages
GET      /api/wallboard              supervisor, admin   the board as JSON
POST     /api/supervisor/monitor     supervisor, admin   ``{"agent": "8001", "mode":
                                                         "listen"|"whisper"|"barge"|"stop"}``:
                                                         ring the caller's own phone into
                                                         ChanSpy (another mode switches)
GET      /api/supervisor/audit       supervisor, admin   monitoring and agent-control audit,
                                                         JSON list, newest first
POST     /api/supervisor/agents/{n}/pause   sup., admin  ``{"reason": "meeting"}``: force pause
                                                         (the desk's QueuePause, audited)
POST     /api/supervisor/agents/{n}/logout  sup., admin  force log-out (the desk's QueueRemove,
                                                         all or nothing, audited; 409
                                                         ``logout_failed`` names the queue
                                                         that failed and what was put back)
=======  ==========================  ==================  ====================================

Monitoring rings the phone on the supervisor's account (their ``agents`` row's interface);
without one it answers 409 ``no_phone``. CTI failures are the desk's (``cti.web.http_error``):
409 ``not_on_call``/``not_monitoring``, 503 ``ami_unavailable``, 504, 502.

The WebSocket is authenticated and its Origin checked before the upgrade.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from callcenter.audit import AuditAction
from callcenter.domain import Role
from callcenter.errors import AuthError, CallcenterError, ValidationError
from callcenter.topics import WALLBOARD_TOPIC
from callcenter.web import i18n
from callcenter.web.app import (
    PageLink,
    WebModule,
    audit,
    ctx_of,
    locale_of,
    read_json_object,
    render,
    require,
    same_origin,
    session_socket,
)
from cti.errors import AgentActionError, AmiError, CtiUnavailable, LogoutFailed
from cti.web import CtiHttpError, http_error
from supervision.messages import MESSAGES, SCRIPT_KEYS
from supervision.service import SupervisionService

__all__ = ["SERVICE", "web_module"]

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC_ROUTE = "supervision-static"
SERVICE = web.AppKey("supervision_service", SupervisionService)
STATE_KEYS = ("logged_out", "available", "ringing", "on_call", "wrap_up", "paused",
              "unreachable")


def service_of(request: web.Request) -> SupervisionService:
    return request.app[SERVICE]


async def wallboard_page(request: web.Request) -> web.Response:
    user = require(request, Role.SUPERVISOR)
    service = service_of(request)
    t = i18n.translator(ctx_of(request).catalogue, locale_of(request))
    router = request.app.router

    def asset(filename: str) -> str:
        return str(router[STATIC_ROUTE].url_for(filename=filename))

    texts = {k: t(k) for k in SCRIPT_KEYS}
    texts.update({f"state.{s}": t(f"cti.state.{s}") for s in STATE_KEYS})
    reasons = service.cti.config.pause_reasons
    texts.update({f"reason.{r}": t(f"cti.reason.{r}") for r in reasons})
    tv = request.query.get("view") == "tv"
    monitoring = service.monitoring
    me = {"username": user.username,
          "monitoring": monitoring.session_of(user.username) if monitoring else None}
    return render(request, "supervision/wallboard.html", asset=asset, tv=tv,
                  texts=texts, initial=service.board(), reasons=list(reasons), me=me)


async def ws_wallboard(request: web.Request) -> web.StreamResponse:
    """Live wallboard. No session → 401, another role → 403, foreign Origin → 403, all
    before the upgrade."""
    try:
        require(request, Role.SUPERVISOR)
    except AuthError as exc:
        return web.json_response({"error_id": exc.error_id, "message": str(exc)},
                                 status=exc.status)
    if not same_origin(request):
        return web.json_response({"error_id": "forbidden", "message": "foreign origin"},
                                 status=403)
    service = service_of(request)
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=4096)
    await ws.prepare(request)
    with session_socket(request, ws):
        # No await between the board and the subscription: nothing published is missed.
        await ctx_of(request).hub.serve(ws, [WALLBOARD_TOPIC], "wallboard",
                                        hello=service.board())
    return ws


async def wallboard_json(request: web.Request) -> web.Response:
    require(request, Role.SUPERVISOR)
    return web.json_response(service_of(request).board())


AUDITED = ("monitor.", "agent.force_")


async def monitor(request: web.Request) -> web.Response:
    user = require(request, Role.SUPERVISOR)
    data = await read_json_object(request)
    agent, mode = data.get("agent"), data.get("mode")
    if not isinstance(mode, str):
        raise ValidationError("mode", "listen, whisper, barge or stop")
    monitoring = service_of(request).monitoring
    if monitoring is None:
        raise CtiHttpError("ami_unavailable", 503, "monitoring is not available")
    try:
        if mode == "stop":
            return web.json_response({"ok": True, **await monitoring.stop(user.username)})
        if not isinstance(agent, str) or not agent:
            raise ValidationError("agent", "an agent number")
        phone = await ctx_of(request).store.agents.by_user(user.id)
        if phone is None or not phone.interface:
            raise CtiHttpError("no_phone", 409, "this account has no phone (interface)")
        session = await monitoring.start(user.username, phone.interface, agent, mode)
    except CallcenterError:
        raise
    except (AgentActionError, CtiUnavailable, AmiError) as exc:
        raise http_error(exc) from exc
    return web.json_response({"ok": True, **session})


async def monitor_audit(request: web.Request) -> web.Response:
    require(request, Role.SUPERVISOR)
    try:
        limit = max(1, min(int(request.query.get("limit", "200")), 1000))
    except ValueError:
        raise ValidationError("limit", "a number") from None
    entries = await ctx_of(request).audit.recent(limit=5000)
    rows = [{"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
             "target": e.target, "details": dict(e.details)}
            for e in entries if e.action.startswith(AUDITED)]
    return web.json_response(rows[:limit])


async def _control(request: web.Request, what: str) -> web.Response:
    user = require(request, Role.SUPERVISOR)
    data = await read_json_object(request)
    number = request.match_info["number"]
    agent = await ctx_of(request).store.agents.by_number(number)
    if agent is None or not agent.queues:
        raise CtiHttpError("not_found", 404, f"no agent {number}")
    cti = service_of(request).cti
    cti.remember_agent(agent)
    try:
        if what == "pause":
            reason = data.get("reason")
            if not isinstance(reason, str):
                raise ValidationError("reason", "a pause reason")
            result = await cti.pause(agent, reason)
            action = AuditAction.AGENT_FORCE_PAUSE
        else:
            result = await cti.logout(agent)
            action = AuditAction.AGENT_FORCE_LOGOUT
    except CallcenterError:
        raise
    except LogoutFailed as exc:  # nothing changed (or the body says where it could not undo)
        await audit(request, AuditAction.AGENT_FORCE_LOGOUT, number, outcome="failed",
                    **exc.as_json())
        return web.json_response({"error_id": exc.error_id, "message": exc.message,
                                  "agent": number, **exc.as_json()}, status=409)
    except (AgentActionError, CtiUnavailable, AmiError) as exc:
        raise http_error(exc) from exc
    await audit(request, action, number, **{k: v for k, v in result.items() if k == "reason"})
    logger.info("supervisor %s: %s agent %s", user.username, what, number)
    return web.json_response({"ok": True, "agent": number, **result})


async def force_pause(request: web.Request) -> web.Response:
    return await _control(request, "pause")


async def force_logout(request: web.Request) -> web.Response:
    return await _control(request, "logout")


def web_module(service: SupervisionService) -> WebModule:
    """The wallboard page, its WebSocket and JSON, bound to ``service``."""

    def setup(app: web.Application) -> None:
        app[SERVICE] = service
        r = app.router
        r.add_get("/wallboard", wallboard_page)
        r.add_get("/ws/wallboard", ws_wallboard)
        r.add_get("/api/wallboard", wallboard_json)
        r.add_post("/api/supervisor/monitor", monitor)
        r.add_get("/api/supervisor/audit", monitor_audit)
        r.add_post("/api/supervisor/agents/{number}/pause", force_pause)
        r.add_post("/api/supervisor/agents/{number}/logout", force_logout)
        r.add_static("/supervision/static/", HERE / "static", append_version=True,
                     name=STATIC_ROUTE)

    return WebModule(
        name="supervision", setup=setup, messages=MESSAGES,
        template_dirs=[HERE / "templates"],
        links=[PageLink("/wallboard", "supervision.nav.wallboard",
                        frozenset({Role.SUPERVISOR}), home=frozenset({Role.SUPERVISOR}))],
    )
