"""The administration console, ``/admin`` (role admin only): accounts, CSV imports, audit log.

=====  ==================================  ==============================================
verb   route                               what
=====  ==================================  ==============================================
GET    /admin                              the console page (admin.js does the rest)
GET    /api/admin/users                    every account with its agent record
POST   /api/admin/users                    add an account (201); agents get their 工号,
                                           phone and queues in the same transaction
POST   /api/admin/users/{username}         one change: ``action`` = disable | enable |
                                           password | role | queues | interface
POST   /api/admin/import/{kind}            merchants | terminals CSV (JSON ``{"csv"}``):
                                           the CLI's row-level report; nothing is written
                                           when a row is bad (422)
GET    /api/admin/audit                    the newest audit entries (``action``, ``actor``)
GET    /api/admin/settings                 the run-time settings in force, the files'
                                           values, which are changed, by whom and when
POST   /api/admin/settings                 ``{"changes": {key: value}, "reset": [key]}``:
                                           validated whole (``callcenter.runtime_settings``);
                                           a bad value is 400 with the reason in the page's
                                           language and nothing is stored; applied at once
=====  ==================================  ==============================================

Every change goes through ``callcenter.service`` (the CLI's use cases) and leaves an audit
entry with the administrator as actor. An administrator cannot disable their own account or
take their own admin role away (409): somebody must be left to administer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from aiohttp import web

from callcenter.audit import AuditAction, AuditEntry
from callcenter.domain import Agent, Role, User, validate_queues
from callcenter.errors import Conflict, NotFound, ValidationError
from callcenter.import_messages import row_message
from callcenter.runtime_settings import (
    KEYS,
    SettingProblem,
    settings_json,
    validate_changes,
)
from callcenter.runtime_settings_store import LiveRuntimeSettings
from callcenter.service import (
    ImportReport,
    add_user,
    change_password,
    change_role,
    disable_user,
    import_merchants,
    import_terminals,
    set_agent_interface,
    set_agent_queues,
)
from callcenter.web import i18n
from callcenter.web.app import (
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

from .messages import MESSAGES, SCRIPT_KEYS

__all__ = ["ROUTES", "web_module"]

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_ROUTE = "admin-static"
MAX_CSV = 2_000_000  # characters of one upload
ROUTES: Final = (("GET", "/admin"), ("GET", "/api/admin/users"), ("POST", "/api/admin/users"),
                 ("POST", "/api/admin/users/{username}"), ("POST", "/api/admin/import/{kind}"),
                 ("GET", "/api/admin/audit"), ("GET", "/api/admin/settings"),
                 ("POST", "/api/admin/settings"))
LIVE_SETTINGS: Final = web.AppKey("admin_live_settings", LiveRuntimeSettings)


class InvalidSetting(ValidationError):
    """A run-time setting that breaks its rule (400: nothing was stored)."""

    error_id = "bad_setting"
    status = 400

    def __str__(self) -> str:
        return self.message


def _text(data: dict[str, Any], key: str, *, limit: int = 200) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise ValidationError(key, "expected text")
    if len(value) > limit:
        raise ValidationError(key, f"at most {limit} characters")
    return value.strip()


def _queues(data: dict[str, Any]) -> tuple[str, ...]:
    value = data.get("queues", [])
    if isinstance(value, str):
        value = [q for q in value.split(",") if q.strip()]
    if not isinstance(value, list) or not all(isinstance(q, str) for q in value):
        raise ValidationError("queues", "expected a list of queue names")
    return tuple(q.strip() for q in value)


def _role(data: dict[str, Any]) -> Role:
    try:
        return Role(_text(data, "role", limit=20))
    except ValueError:
        raise ValidationError("role", f"one of {', '.join(r.value for r in Role)}") from None


def user_json(user: User, agent: Agent | None) -> dict[str, Any]:
    return {
        "username": user.username, "display_name": user.display_name, "role": user.role.value,
        "active": user.active, "agent_number": agent.agent_number if agent else None,
        "interface": agent.interface if agent else None,
        "state_interface": agent.state_interface if agent else None,
        "queues": list(agent.queues) if agent else [],
    }


def report_json(report: ImportReport, locale: str) -> dict[str, Any]:
    """The report for the console: each bad row's stable ``code`` and ``params`` (the API)
    and its ``message`` in ``locale`` (the page's language)."""
    return {"created": report.created, "updated": report.updated,
            "unchanged": report.unchanged, "committed": report.committed,
            "summary": report.summary,
            "errors": [{"line": e.line, "field": e.field, "code": e.code.value,
                        "params": dict(e.params), "message": row_message(e, locale)}
                       for e in report.errors]}


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {"id": entry.id, "at": entry.at.isoformat(), "actor": entry.actor,
            "action": entry.action, "target": entry.target, "details": dict(entry.details)}


# --------------------------------------------------------------------------- page


async def admin_page(request: web.Request) -> web.Response:
    require(request, Role.ADMIN)
    t = i18n.translator(ctx_of(request).catalogue, locale_of(request))
    router = request.app.router

    def asset(filename: str) -> str:
        return str(router[STATIC_ROUTE].url_for(filename=filename))

    texts = {k: t(k) for k in SCRIPT_KEYS} | {f"role.{r.value}": t(f"role.{r.value}")
                                              for r in Role}
    config = {"texts": texts, "roles": [r.value for r in Role],
              "timezone": ctx_of(request).settings.locale.timezone}
    return render(request, "admin/admin.html", config=config, asset=asset,
                  roles=[r.value for r in Role])


# --------------------------------------------------------------------------- users


async def users_get(request: web.Request) -> web.Response:
    require(request, Role.ADMIN)
    store = ctx_of(request).store
    agents = {a.user_id: a for a in await store.agents.list()}
    users = await store.users.list()
    return web.json_response({"users": [user_json(u, agents.get(u.id)) for u in users]})


async def users_post(request: web.Request) -> web.Response:
    require(request, Role.ADMIN)
    data = await read_json_object(request)
    store = ctx_of(request).store
    role = _role(data)
    username = _text(data, "username", limit=64)
    queues = validate_queues(_queues(data)) if role is Role.AGENT else ()
    state = data.get("state_interface")
    user = await add_user(
        store, now_utc(request), username=username,
        display_name=_text(data, "display_name", limit=64) or username, role=role,
        password=_text(data, "password", limit=200),
        agent_number=_text(data, "agent_number", limit=20) or username,
        interface=_text(data, "interface", limit=100), queues=queues,
        state_interface=_text(data, "state_interface", limit=100) if state is not None else None)
    await audit(request, AuditAction.USER_ADD, username, role=role.value,
                agent_number=_text(data, "agent_number", limit=20) or None)
    agent = await store.agents.by_user(user.id)
    return web.json_response(user_json(user, agent), status=201)


async def user_post(request: web.Request) -> web.Response:
    me = require(request, Role.ADMIN)
    data = await read_json_object(request)
    ctx = ctx_of(request)
    store = ctx.store
    username = request.match_info["username"]
    target = await store.users.by_username(username)
    if target is None:
        raise NotFound(f"no user {username!r}")
    action = _text(data, "action", limit=20)
    now = now_utc(request)
    if target.id == me.id and (action == "disable"
                               or (action == "role" and _role(data) is not Role.ADMIN)):
        raise Conflict("an administrator cannot disable or demote their own account")
    if action in ("disable", "enable"):
        await disable_user(store, now, username, actor=me.username, active=action == "enable")
    elif action == "password":
        await change_password(store, now, username, _text(data, "password"), actor=me.username)
    elif action == "role":
        await change_role(store, now, username, _role(data), actor=me.username)
    elif action == "queues":
        agent = await set_agent_queues(store, username, _queues(data))
        await audit(request, AuditAction.USER_QUEUES, username, queues=list(agent.queues))
    elif action == "interface":
        state = data.get("state_interface")
        await set_agent_interface(
            store, now, username, _text(data, "interface", limit=100),
            _text(data, "state_interface", limit=100) if state is not None else None,
            actor=me.username)
    else:
        raise ValidationError("action", "one of disable, enable, password, role, queues, "
                              "interface")
    user = await store.users.by_username(username)
    assert user is not None
    return web.json_response(user_json(user, await store.agents.by_user(user.id)))


# --------------------------------------------------------------------------- CSV uploads


async def import_post(request: web.Request) -> web.Response:
    require(request, Role.ADMIN)
    kind = request.match_info["kind"]
    if kind not in ("merchants", "terminals"):
        raise NotFound(f"no import of {kind!r}")
    data = await read_json_object(request)
    text = data.get("csv")
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("csv", "expected the CSV file's text")
    if len(text) > MAX_CSV:
        raise ValidationError("csv", f"at most {MAX_CSV} characters")
    text = text.removeprefix("\ufeff")  # a BOM, as Excel writes UTF-8 CSV
    store = ctx_of(request).store
    if kind == "merchants":
        report = await import_merchants(store, text, now_utc(request))
    else:
        report = await import_terminals(store, text)
    await audit(request, AuditAction.IMPORT, kind, created=report.created,
                updated=report.updated, bad_rows=len(report.errors),
                committed=report.committed)
    return web.json_response(report_json(report, locale_of(request)),
                             status=200 if report.committed else 422)


# --------------------------------------------------------------------------- audit log


async def audit_get(request: web.Request) -> web.Response:
    require(request, Role.ADMIN)
    q = request.query
    try:
        limit = min(500, max(1, int(q.get("limit", "100"))))
    except ValueError:
        raise ValidationError("limit", "a number") from None
    entries = await ctx_of(request).audit.recent(action=q.get("action", "")[:40],
                                                 actor=q.get("actor", "")[:64], limit=limit)
    return web.json_response({"entries": [audit_json(e) for e in entries]})


# --------------------------------------------------------------------------- settings


def _live(request: web.Request) -> LiveRuntimeSettings:
    live = request.app.get(LIVE_SETTINGS)
    if live is None:
        raise NotFound("run-time settings are not available in this process")
    return live


def settings_view(live: LiveRuntimeSettings) -> dict[str, Any]:
    return {"settings": settings_json(live.current), "defaults": settings_json(live.defaults),
            "overridden": sorted(live.current.overridden), "keys": list(KEYS),
            "changed": {k: {"by": v.updated_by, "at": v.updated_at.isoformat()}
                        for k, v in live.stored.items()}}


async def settings_get(request: web.Request) -> web.Response:
    require(request, Role.ADMIN)
    live = _live(request)
    await live.refresh()
    return web.json_response(settings_view(live))


async def settings_post(request: web.Request) -> web.Response:
    me = require(request, Role.ADMIN)
    live = _live(request)
    data = await read_json_object(request)
    changes, reset = data.get("changes", {}), data.get("reset", [])
    if not isinstance(changes, dict):
        raise InvalidSetting("changes", "expected an object of setting: value")
    if not isinstance(reset, list) or not all(isinstance(k, str) for k in reset):
        raise InvalidSetting("reset", "expected a list of setting names")
    try:
        values = validate_changes(changes, reset)
    except SettingProblem as problem:
        raise InvalidSetting(problem.key, problem.message(locale_of(request))) from None
    if not values and not reset:
        raise InvalidSetting("changes", "nothing to change" if locale_of(request) == "en"
                             else "没有要修改的设置")
    await live.refresh()
    before = settings_json(live.current)
    now = now_utc(request)
    await live.save(values, reset, actor=me.username, at=now)
    after = settings_json(live.current)
    await audit(request, AuditAction.SETTINGS_CHANGE, ",".join(sorted({*values, *reset}))[:100],
                changes={k: {"old": before[k], "new": after[k]} for k in sorted({*values,
                                                                                  *reset})},
                reset=sorted(reset))
    return web.json_response(settings_view(live))


def web_module(live_settings: LiveRuntimeSettings | None = None) -> WebModule:
    """The console page, its JSON API and script; ``live_settings`` the run-time settings
    the console edits (without them the settings routes answer 404)."""

    def setup(app: web.Application) -> None:
        if live_settings is not None:
            app[LIVE_SETTINGS] = live_settings
        r = app.router
        r.add_get("/admin", admin_page)
        r.add_get("/api/admin/users", users_get)
        r.add_post("/api/admin/users", users_post)
        r.add_post("/api/admin/users/{username}", user_post)
        r.add_post("/api/admin/import/{kind}", import_post)
        r.add_get("/api/admin/audit", audit_get)
        r.add_get("/api/admin/settings", settings_get)
        r.add_post("/api/admin/settings", settings_post)
        r.add_static("/admin/static/", STATIC, append_version=True, name=STATIC_ROUTE)

    return WebModule(name="admin", setup=setup, messages=MESSAGES, template_dirs=[TEMPLATES],
                     links=[PageLink("/admin", "admin.nav", frozenset({Role.ADMIN}))])
