"""The agent desktop over HTTP: the page, its live WebSocket and the agent-action API.

=======  ========================  ======  ==================================================
method   path                      role    what
=======  ========================  ======  ==================================================
GET      /desk                     agent   the desktop page (zh-CN / en)
GET      /ws/agent                 agent   live updates: hello (state, card, today), then
                                           ``state``/``pop``/``call``/``wrapup``/``today``
GET      /api/agent/state          agent   the same snapshot as the WebSocket's hello
POST     /api/agent/login          agent   log in to the agent's queues (QueueAdd each)
POST     /api/agent/logout         agent   log out (QueueRemove each)
POST     /api/agent/pause          agent   ``{"reason": "lunch"}`` (QueuePause, all queues)
POST     /api/agent/resume         agent   QueuePause ``Paused: false``
POST     /api/agent/dial           agent   ``{"number", "idempotency_key", "label"?}``
POST     /api/agent/transfer       agent   ``{"target", "mode": "blind"|"attended"}``
POST     /api/agent/hangup         agent   Hangup of the agent's leg
POST     /api/agent/phone/answer   agent   demo mode only: pick the demo phone up
POST     /api/agent/phone/hangup   agent   demo mode only: hang the demo phone up
=======  ========================  ======  ==================================================

Errors are the app's JSON errors ``{"error_id", "message"}``; this module maps the CTI's
exceptions to them in one place (:func:`http_error`): a refused action is 409 with the rule's
``error_id`` (``already_paused``, ``not_on_call`` …), no AMI connection 503
``ami_unavailable``, an AMI timeout 504 ``ami_timeout``, an Asterisk ``Response: Error`` 502
``ami_refused``. POST bodies must be JSON (``Content-Type: application/json``, read by the app's
``read_json_object``) from this site's own pages (the app's Origin check), and the session
cookie is ``SameSite=Strict``. An administrator acting as an agent (``?agent=8002``) is written
to the audit log (``impersonate``) on every page, socket and action.

The WebSocket is authenticated before the upgrade (``require`` then ``ws.prepare``): a request
without a valid agent session gets a plain 401/403 and no WebSocket. The hub gives every
browser its own bounded queue, so one slow desktop never delays the others.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from callcenter.audit import AuditAction
from callcenter.domain import Agent, Role, User
from callcenter.errors import AuthError, CallcenterError, ValidationError
from callcenter.topics import agent_topic
from callcenter.web import i18n
from callcenter.web.app import (
    Forbidden,
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
from cti.errors import (
    AgentActionError,
    AmiActionError,
    AmiDisconnected,
    AmiError,
    AmiTimeout,
    CtiUnavailable,
)
from cti.messages import MESSAGES, SCRIPT_KEYS
from cti.service import CtiService

__all__ = ["SERVICE", "STATIC_ROUTE", "CtiHttpError", "http_error", "web_module"]

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_ROUTE = "cti-static"
SERVICE = web.AppKey("cti_service", CtiService)
DesktopHook = Callable[[bool], None]
DESKTOP_HOOK: web.AppKey[DesktopHook] = web.AppKey("cti_desktop_hook")


class CtiHttpError(CallcenterError):
    """A CTI failure as the web app's error: carries its own ``error_id`` and status."""

    def __init__(self, error_id: str, status: int, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.status = status


def http_error(exc: Exception) -> CallcenterError:
    """The one translation of CTI exceptions into HTTP errors (see the module docstring)."""
    if isinstance(exc, AgentActionError):
        return CtiHttpError(exc.error_id, 409, exc.message)
    if isinstance(exc, CtiUnavailable):
        return CtiHttpError("ami_unavailable", 503, str(exc))
    if isinstance(exc, AmiTimeout):
        return CtiHttpError("ami_timeout", 504, "Asterisk did not answer in time")
    if isinstance(exc, AmiDisconnected):
        return CtiHttpError("ami_unavailable", 503, "the AMI connection is down")
    if isinstance(exc, AmiActionError):
        return CtiHttpError("ami_refused", 502, f"Asterisk refused: {exc.message}")
    if isinstance(exc, AmiError):
        return CtiHttpError("ami_error", 502, str(exc))
    if isinstance(exc, CallcenterError):
        return exc
    raise TypeError(f"not a CTI error: {exc!r}")


def service_of(request: web.Request) -> CtiService:
    return request.app[SERVICE]


async def agent_of(request: web.Request, user: User) -> Agent:
    """The agent record of the logged-in user. An administrator may act for an agent with
    ``?agent=<number>`` (audited). Raises Forbidden when there is none."""
    store = ctx_of(request).store
    agent = await store.agents.by_user(user.id)
    if agent is None and user.role is Role.ADMIN and request.query.get("agent"):
        agent = await store.agents.by_number(request.query["agent"])
        if agent is not None:
            await audit(request, AuditAction.IMPERSONATE, agent.agent_number)
    if agent is None:
        raise Forbidden("this account has no agent number")
    return agent


# --------------------------------------------------------------------------- page


async def desk(request: web.Request) -> web.Response:
    user = require(request, Role.AGENT)
    agent = await agent_of(request, user)
    service = service_of(request)
    t = i18n.translator(ctx_of(request).catalogue, locale_of(request))
    router = request.app.router

    def asset(filename: str) -> str:
        return str(router[STATIC_ROUTE].url_for(filename=filename))

    config = {
        "agent_number": agent.agent_number, "name": agent.name,
        "locale": locale_of(request), "timezone": ctx_of(request).settings.locale.timezone,
        "queues": list(service.config.queues), "reasons": list(service.config.pause_reasons),
        "demo_phone": service.demo_phones is not None, "texts": {k: t(k) for k in SCRIPT_KEYS},
        "query": f"?agent={agent.agent_number}" if user.role is Role.ADMIN else "",
    }
    return render(request, "cti/desk.html", agent=agent, config=config, asset=asset,
                  queues=service.config.queues, reasons=service.config.pause_reasons,
                  demo_phone=service.demo_phones is not None)


# --------------------------------------------------------------------------- WebSocket


async def ws_agent(request: web.Request) -> web.StreamResponse:
    """Live desktop feed. Authenticated BEFORE the upgrade: no session → 401, other role or
    no agent number → 403, foreign Origin → 403; only then ``ws.prepare``."""
    try:
        user = require(request, Role.AGENT)
        agent = await agent_of(request, user)
    except AuthError as exc:
        return web.json_response({"error_id": exc.error_id, "message": str(exc)},
                                 status=exc.status)
    if not same_origin(request):
        return web.json_response({"error_id": "forbidden", "message": "foreign origin"},
                                 status=403)
    service = service_of(request)
    hub = ctx_of(request).hub
    today = await service.today(agent.agent_number)
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=4096)
    await ws.prepare(request)
    # No await between the snapshot and the subscription inside serve(): nothing published
    # in between can be missed.
    hello = service.snapshot(agent)
    service.remember_agent(agent)
    hello["today"] = today
    logger.info("agent %s desktop connected from %s", agent.agent_number, request.remote)
    hook = request.app.get(DESKTOP_HOOK)
    if hook is not None:
        hook(True)
    service.desk_opened(agent)  # nobody at the desk for long: paused (agent_state rule 13)
    try:
        with session_socket(request, ws):
            await hub.serve(ws, [agent_topic(agent.agent_number)],
                            f"agent {agent.agent_number}", hello=hello)
    finally:
        service.desk_closed(agent)
        if hook is not None:
            hook(False)
    return ws


# --------------------------------------------------------------------------- API


def _text(data: dict[str, Any], key: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise ValidationError(key, "expected a string")
    return value


Action = Callable[[CtiService, Agent, dict[str, Any]], Awaitable[dict[str, Any]]]


async def _login(s: CtiService, a: Agent, d: dict[str, Any]) -> dict[str, Any]:
    return await s.login(a)


async def _logout(s: CtiService, a: Agent, d: dict[str, Any]) -> dict[str, Any]:
    return await s.logout(a)


async def _pause(s: CtiService, a: Agent, d: dict[str, Any]) -> dict[str, Any]:
    return await s.pause(a, _text(d, "reason"))


async def _resume(s: CtiService, a: Agent, d: dict[str, Any]) -> dict[str, Any]:
    return await s.resume(a)


async def _dial(s: CtiService, a: Agent, d: dict[str, Any]) -> dict[str, Any]:
    return await s.dial(a, _text(d, "number"), idempotency_key=_text(d, "idempotency_key"),
                        label=_text(d, "label", ""))


async def _transfer(s: CtiService, a: Agent, d: dict[str, Any]) -> dict[str, Any]:
    mode = _text(d, "mode", "blind")
    if mode not in ("blind", "attended"):
        raise ValidationError("mode", "blind or attended")
    return await s.transfer(a, _text(d, "target"), attended=mode == "attended")


async def _hangup(s: CtiService, a: Agent, d: dict[str, Any]) -> dict[str, Any]:
    return await s.hangup(a)


async def _phone_answer(s: CtiService, a: Agent, d: dict[str, Any]) -> dict[str, Any]:
    return s.phone(a, "answer")


async def _phone_hangup(s: CtiService, a: Agent, d: dict[str, Any]) -> dict[str, Any]:
    return s.phone(a, "hangup")


ACTIONS: dict[str, Action] = {
    "login": _login, "logout": _logout, "pause": _pause, "resume": _resume, "dial": _dial,
    "transfer": _transfer, "hangup": _hangup, "phone/answer": _phone_answer,
    "phone/hangup": _phone_hangup,
}
"""URL tail -> handler: each is parse → service call (rule check → the one AMI action)."""


def _action_handler(name: str, action: Action) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        user = require(request, Role.AGENT)
        data = await read_json_object(request)
        agent = await agent_of(request, user)
        try:
            result = await action(service_of(request), agent, data)
        except CallcenterError:
            raise
        except (AgentActionError, CtiUnavailable, AmiError) as exc:
            error = http_error(exc)
            logger.info("agent %s: %s refused: %s (%s)", agent.agent_number, name,
                     error.error_id, exc)
            raise error from exc
        return web.json_response({"ok": True, "action": name, **result})

    return handle


async def state(request: web.Request) -> web.Response:
    user = require(request, Role.AGENT)
    agent = await agent_of(request, user)
    return web.json_response(await service_of(request).desk_state(agent))


def web_module(service: CtiService, *, desktop_hook: DesktopHook | None = None) -> WebModule:
    """The desktop page, its WebSocket and the action API, bound to ``service``.

    ``desktop_hook(connected)`` is told when a desktop WebSocket opens (True) and closes
    (False): ``cti.wiring.GcPolicy.desktop``.
    """

    def setup(app: web.Application) -> None:
        app[SERVICE] = service
        if desktop_hook is not None:
            app[DESKTOP_HOOK] = desktop_hook
        r = app.router
        r.add_get("/desk", desk)
        r.add_get("/ws/agent", ws_agent)
        r.add_get("/api/agent/state", state)
        for name, action in ACTIONS.items():
            r.add_post(f"/api/agent/{name}", _action_handler(name, action))
        r.add_static("/cti/static/", STATIC, append_version=True, name=STATIC_ROUTE)

    return WebModule(
        name="cti", setup=setup, messages=MESSAGES, template_dirs=[TEMPLATES],
        links=[PageLink("/desk", "cti.nav.desk", frozenset({Role.AGENT}), for_admin=False)],
    )
