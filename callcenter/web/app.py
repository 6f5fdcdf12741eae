"""The aiohttp application: sessions, roles, errors, i18n, health and the module pages.

Feature packages (CTI agent desktop, dispatcher board, wallboard, recordings) plug in as
:class:`WebModule` objects: their routes, templates, texts and home-page links. The composition
root (``callcenter.app``) decides which modules are present.

Every error reaches the user through one middleware: ``CallcenterError`` subclasses carry an
HTTP status and a stable ``error_id``; JSON clients (``/api/…``) get
``{"error_id": …, "message": …, "field": …}``, browsers an HTML page or a redirect to the login.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from callcenter import __version__
from callcenter.auth import verify_password
from callcenter.db.repositories import Store
from callcenter.domain import Role, User
from callcenter.errors import AuthError, CallcenterError, NotFound, ValidationError
from callcenter.settings import Settings
from callcenter.web import i18n
from callcenter.web.hub import Hub
from callcenter.web.session import COOKIE_NAME, SESSION_SECONDS, decode_session, encode_session

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
LANG_COOKIE = "cc_lang"

HealthProbe = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class PageLink:
    """A link on the home page, shown to the listed roles (admins see every link)."""

    href: str
    title_key: str
    roles: frozenset[Role]


@dataclass(slots=True)
class WebModule:
    """A feature's pages: ``setup`` adds routes; texts and templates join the app's."""

    name: str
    setup: Callable[[web.Application], None]
    messages: dict[str, dict[str, str]] = field(default_factory=dict)
    template_dirs: Sequence[Path] = ()
    links: Sequence[PageLink] = ()


@dataclass(slots=True)
class WebContext:
    """What handlers need; stored on the app under :data:`CTX`."""

    settings: Settings
    store: Store
    clock: Callable[[], float]
    secret: bytes
    catalogue: dict[str, dict[str, str]]
    templates: jinja2.Environment
    hub: Hub = field(default_factory=Hub)
    health: dict[str, HealthProbe] = field(default_factory=dict)
    links: list[PageLink] = field(default_factory=list)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.locale.timezone)


CTX = web.AppKey("ctx", WebContext)
USER_KEY = web.RequestKey("cc_user", User)
LOCALE_KEY = web.RequestKey("cc_locale", str)


# --------------------------------------------------------------------------- request helpers


def ctx_of(request: web.Request) -> WebContext:
    return request.app[CTX]


def current_user(request: web.Request) -> User | None:
    return request.get(USER_KEY)


def require(request: web.Request, *roles: Role) -> User:
    """The logged-in user if their role is one of ``roles`` (admins pass every check).

    Raises AuthError (401) when nobody is logged in, Forbidden (403) for another role.
    """
    user = current_user(request)
    if user is None:
        raise AuthError("login required")
    if roles and user.role not in roles and user.role is not Role.ADMIN:
        raise Forbidden(f"role {user.role.value} may not do this")
    return user


class Forbidden(AuthError):
    error_id = "forbidden"
    status = 403


def locale_of(request: web.Request) -> str:
    return str(request.get(LOCALE_KEY, "zh-CN"))


def render(request: web.Request, template: str, status: int = 200, **values: Any
           ) -> web.Response:
    """Render a Jinja2 template with the user, locale, translator ``t`` and time helpers."""
    ctx = ctx_of(request)
    locale = locale_of(request)
    t = i18n.translator(ctx.catalogue, locale)

    def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        if value is None:
            return ""
        return value.astimezone(ctx.tz).strftime(fmt)

    def static(filename: str) -> str:
        return str(request.app.router["static"].url_for(filename=filename))

    html = ctx.templates.get_template(template).render(
        request=request, user=current_user(request), locale=locale, t=t, static=static,
        local_time=local_time, timezone=ctx.settings.locale.timezone, version=__version__,
        **values,
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get(
        "Accept", "")


# --------------------------------------------------------------------------- middlewares


@web.middleware
async def error_middleware(request: web.Request,
                           handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                           ) -> web.StreamResponse:
    try:
        return await handler(request)
    except CallcenterError as exc:
        if isinstance(exc, AuthError) and exc.status == 401 and not wants_json(request):
            raise web.HTTPFound(f"/login?next={quote(request.path_qs)}") from None
        body: dict[str, Any] = {"error_id": exc.error_id, "message": str(exc)}
        if isinstance(exc, ValidationError):
            body["field"] = exc.field
        if wants_json(request):
            return web.json_response(body, status=exc.status)
        return render(request, "error.html", status=exc.status, error=body)


@web.middleware
async def session_middleware(request: web.Request,
                             handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                             ) -> web.StreamResponse:
    ctx = ctx_of(request)
    request[LOCALE_KEY] = i18n.pick_locale(
        request.cookies.get(LANG_COOKIE), request.headers.get("Accept-Language", ""),
        ctx.settings.locale.default)
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        user_id = decode_session(ctx.secret, cookie, ctx.clock())
        if user_id is not None:
            user = await ctx.store.users.get(user_id)
            if user is not None and user.active:
                request[USER_KEY] = user
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


# --------------------------------------------------------------------------- handlers


async def healthz(request: web.Request) -> web.Response:
    """``{"status": "ok"|"degraded", "database": {...}, "ami": {...}, ...}``; 503 when the
    database is down."""
    ctx = ctx_of(request)
    report: dict[str, Any] = {"status": "ok", "version": __version__}
    for name, probe in ctx.health.items():
        try:
            report[name] = await probe()
        except Exception as exc:  # a probe that fails is itself the finding
            report[name] = {"ok": False, "error": str(exc)}
    if not all(v.get("ok", True) for v in report.values() if isinstance(v, dict)):
        report["status"] = "degraded"
    status = 200 if report.get("database", {}).get("ok", True) else 503
    return web.json_response(report, status=status)


async def login_page(request: web.Request) -> web.Response:
    return render(request, "login.html", next=_safe_next(request.query.get("next", "/")),
                  failed=False, username="")


async def login_submit(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    form = await request.post()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "/")))
    found = await ctx.store.users.credentials(username) if username else None
    if found is None or not found[0].active or not verify_password(found[1], password):
        logger.info("login failed for %r from %s", username, request.remote)
        return render(request, "login.html", status=401, next=target, failed=True,
                      username=username)
    user = found[0]
    logger.info("user %s (%s) logged in", user.username, user.role.value)
    response = web.HTTPFound(target if target != "/" else home_of(ctx, user))
    response.set_cookie(COOKIE_NAME, encode_session(ctx.secret, user.id, ctx.clock()),
                        max_age=SESSION_SECONDS, httponly=True, samesite="Strict",
                        secure=ctx.settings.web.cookie_secure)
    raise response


async def logout(request: web.Request) -> web.Response:
    response = web.HTTPFound("/login")
    response.del_cookie(COOKIE_NAME)
    raise response


async def set_language(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    if code not in i18n.LOCALES:
        raise NotFound(f"unknown language {code}")
    response = web.HTTPFound(_safe_next(request.query.get("next", "/")))
    response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="Lax")
    raise response


async def home(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    user = require(request)
    links = [link for link in ctx.links if user.role in link.roles or user.role is Role.ADMIN]
    if len(links) == 1 and user.role is not Role.ADMIN:
        raise web.HTTPFound(links[0].href)
    return render(request, "home.html", links=links)


def home_of(ctx: WebContext, user: User) -> str:
    for link in ctx.links:
        if user.role in link.roles and user.role is not Role.ADMIN:
            return link.href
    return "/"


def _safe_next(target: str) -> str:
    # Only same-site absolute paths: never an open redirect to another host.
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# --------------------------------------------------------------------------- factory


def template_environment(dirs: Sequence[Path]) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in dirs]),
        autoescape=jinja2.select_autoescape(["html", "xml"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )


def build_web_app(settings: Settings, store: Store, *, modules: Sequence[WebModule] = (),
                  health: dict[str, HealthProbe] | None = None,
                  clock: Callable[[], float] | None = None,
                  hub: Hub | None = None) -> web.Application:
    """The whole web app. ``clock`` returns epoch seconds (injected in tests); ``hub`` is the
    WebSocket fan-out shared with the components that publish (CTI, tasks)."""
    import time

    secret = settings.web.session_secret.encode() or secrets.token_bytes(32)
    if not settings.web.session_secret:
        logger.warning("web.session_secret is empty: sessions end when the process restarts")
    template_dirs = [Path(__file__).resolve().parent / "templates"]
    for module in modules:
        template_dirs.extend(module.template_dirs)
    ctx = WebContext(
        settings=settings, store=store, clock=clock or time.time, secret=secret,
        catalogue=i18n.merge([i18n.MESSAGES, *(m.messages for m in modules)]),
        templates=template_environment(template_dirs),
        hub=hub or Hub(),
        health=dict(health or {}),
        links=[link for m in modules for link in m.links],
    )
    app = web.Application(middlewares=[session_middleware, error_middleware],
                          client_max_size=8 * 1024 * 1024)
    app[CTX] = ctx

    async def close_websockets(_app: web.Application) -> None:
        # Without this, shutdown waits for every open WebSocket to time out.
        await ctx.hub.close_all()

    app.on_shutdown.append(close_websockets)
    app.router.add_get("/", home)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
    app.router.add_get("/lang/{code}", set_language)
    app.router.add_static("/static/", STATIC_DIR, append_version=True, name="static")
    for module in modules:
        module.setup(app)
    return app


def now_utc(request: web.Request) -> datetime:
    """The request's notion of now (the injected clock), as an aware UTC datetime."""
    return datetime.fromtimestamp(ctx_of(request).clock(), UTC)
