"""The aiohttp application: sessions, roles, errors, i18n, health and the module pages.

Feature packages (CTI agent desktop, dispatcher board, wallboard, recordings) plug in as
:class:`WebModule` objects: their routes, templates, texts and home-page links. The composition
root (``callcenter.app``) decides which modules are present.

Every error reaches the user through one middleware: ``CallcenterError`` subclasses carry an
HTTP status and a stable ``error_id``; JSON clients (``/api/…``) get
``{"error_id": …, "message": …, "field": …}``, browsers an HTML page or a redirect to the login.

Access control, in the order a request meets it:

* :func:`session_middleware`: the ``cc_session`` cookie names a server-side session
  (:mod:`callcenter.web.session`); a revoked, idle or expired one logs nobody in.
* :func:`request_guard` (cross-site request forgery): every state-changing request (POST, PUT,
  PATCH, DELETE) whose ``Origin`` is present must come from this site (``Origin: null`` and
  another host or port are 403 ``foreign_origin``); without ``Origin``, a
  ``Sec-Fetch-Site`` other than ``same-origin``/``none`` is refused the same way. A request
  with neither header is not a browser's, so it cannot carry a victim's cookie by itself.
  Such requests must also send JSON (415 ``json_required``), which an HTML form cannot: only
  ``/login`` and ``/logout`` (:data:`FORM_PATHS`, plain HTML forms that work without script)
  stay forms, and they are still Origin-checked. Routes a module declares ``signed_paths``
  (the business webhook, authenticated by its HMAC, never by a cookie) skip both checks.
  WebSockets check Origin before the upgrade (:func:`require_same_origin`).
* Handlers call :func:`require` with the roles that may use them; JSON bodies are read only by
  :func:`read_json` (size and depth limits, 400 ``bad_json``).
* Every response carries the security headers (:data:`SECURITY_HEADERS`: a strict
  Content-Security-Policy — the pages load only ``/static`` scripts, never inline ones —,
  ``nosniff``, frame denial).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from callcenter import __version__
from callcenter.audit import AuditEntry, AuditLog
from callcenter.auth import PasswordVerifier
from callcenter.db.repositories import Store
from callcenter.domain import Role, User
from callcenter.errors import AuthError, CallcenterError, NotFound, ValidationError
from callcenter.json_limits import MAX_BYTES, JsonRefused, loads_limited
from callcenter.settings import Settings
from callcenter.web import i18n
from callcenter.web.hub import Hub
from callcenter.web.login_throttle import MemoryThrottle
from callcenter.web.session import (
    COOKIE_NAME,
    SESSION_SECONDS,
    SessionState,
    needs_touch,
    session_state,
    token_digest,
)

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
LANG_COOKIE = "cc_lang"

HealthProbe = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class PageLink:
    """A link on the home page, shown to the listed roles (admins see every link that opens for
    them: ``for_admin``)."""

    href: str
    title_key: str
    roles: frozenset[Role]
    home: frozenset[Role] = frozenset()
    """Roles that land on this page after logging in (their home), before any other link."""
    for_admin: bool = True
    """False for a page that answers an admin 403 as it is (the desk is an agent's own: an
    admin opens it as one agent, ``/desk?agent=8001``), so the admin's home never lists it."""


@dataclass(slots=True)
class WebModule:
    """A feature's pages: ``setup`` adds routes; texts and templates join the app's."""

    name: str
    setup: Callable[[web.Application], None]
    messages: dict[str, dict[str, str]] = field(default_factory=dict)
    template_dirs: Sequence[Path] = ()
    links: Sequence[PageLink] = ()
    signed_paths: Sequence[str] = ()
    """POST routes authenticated by a signature, never by the session cookie (webhooks):
    exempt from the Origin and JSON-only checks."""


@dataclass(slots=True)
class WebContext:
    """What handlers need; stored on the app under :data:`CTX`."""

    settings: Settings
    store: Store
    clock: Callable[[], float]
    catalogue: dict[str, dict[str, str]]
    templates: jinja2.Environment
    audit: AuditLog
    hub: Hub = field(default_factory=Hub)
    health: dict[str, HealthProbe] = field(default_factory=dict)
    links: list[PageLink] = field(default_factory=list)
    throttle: MemoryThrottle = field(default_factory=MemoryThrottle)
    verifier: PasswordVerifier = field(default_factory=PasswordVerifier)
    signed_paths: frozenset[str] = frozenset()
    sockets: dict[web.WebSocketResponse, str] = field(default_factory=dict)
    """Open WebSockets → the session digest they were opened with (see session_socket)."""
    socket_sweep_seconds: float = 30.0

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.locale.timezone)


CTX = web.AppKey("ctx", WebContext)
USER_KEY = web.RequestKey("cc_user", User)
LOCALE_KEY = web.RequestKey("cc_locale", str)
SESSION_KEY = web.RequestKey("cc_session", str)
SESSION_ENDED = 4001  # WebSocket close code: the session was ended (logout, disabled …)

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_PATHS = frozenset({"/login", "/logout"})
"""The only state-changing routes that take an HTML form (they work without script)."""

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class Forbidden(AuthError):
    error_id = "forbidden"
    status = 403


class ForeignOrigin(Forbidden):
    """A state-changing request or a WebSocket from a page of another site (or port)."""

    error_id = "foreign_origin"


class JsonRequired(ValidationError):
    """A state-changing API request that is not ``Content-Type: application/json``."""

    error_id = "json_required"
    status = 415

    def __init__(self) -> None:
        super().__init__("body", "send JSON (Content-Type: application/json)")


class BadJson(ValidationError):
    """A body that is not JSON within the limits (size, depth, UTF-8)."""

    error_id = "bad_json"
    status = 400


class TooManyLogins(AuthError):
    """Login throttled (:mod:`callcenter.web.login_throttle`)."""

    error_id = "too_many_logins"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins: try again in {retry_after} s")
        self.retry_after = retry_after


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


async def read_json(request: web.Request, *, max_bytes: int = MAX_BYTES) -> Any:
    """The request's JSON body, parsed within the limits of :mod:`callcenter.json_limits`.
    Raises BadJson (400) for a body too large, too deep or not JSON."""
    if (request.content_length or 0) > max_bytes:
        raise BadJson("body", f"larger than {max_bytes} bytes")
    body = await request.read()  # at most the app's client_max_size (413 beyond)
    try:
        return loads_limited(body, max_bytes=max_bytes)
    except JsonRefused as exc:
        raise BadJson("body", str(exc)) from None


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """:func:`read_json` for an object (an empty body is ``{}``); ValidationError otherwise."""
    data = await read_json(request) if request.can_read_body else {}
    if not isinstance(data, dict):
        raise ValidationError("body", "expected a JSON object")
    return data


@contextmanager
def session_socket(request: web.Request, ws: web.WebSocketResponse) -> Iterator[None]:
    """While open, ``ws`` belongs to the request's session: it is closed (4001) when the
    session ends — at once on logout, within ``socket_sweep_seconds`` when it ends elsewhere
    (idle, a password change or a disabled account, from the CLI too)."""
    ctx = ctx_of(request)
    digest = request.get(SESSION_KEY)
    if digest is not None:
        ctx.sockets[ws] = digest
    try:
        yield
    finally:
        ctx.sockets.pop(ws, None)


async def close_session_sockets(ctx: WebContext, digests: set[str]) -> int:
    """Close the open WebSockets of the ended sessions ``digests``; returns how many."""
    doomed = [ws for ws, digest in ctx.sockets.items() if digest in digests]
    for ws in doomed:
        ctx.sockets.pop(ws, None)
        await ws.close(code=SESSION_ENDED, message=b"session ended")
    return len(doomed)


async def sweep_session_sockets(ctx: WebContext) -> int:
    """Close the WebSockets whose session is no longer live (one query per session)."""
    ended = set()
    now = datetime.fromtimestamp(ctx.clock(), UTC)
    for digest in set(ctx.sockets.values()):
        found = await ctx.store.web_sessions.with_user(digest)
        if found is None or not found[1].active or session_state(
                found[0], now, idle_seconds=ctx.settings.web.session_idle_minutes * 60
        ) is not SessionState.LIVE:
            ended.add(digest)
    return await close_session_sockets(ctx, ended) if ended else 0


async def _socket_sweeper(app: web.Application) -> AsyncIterator[None]:
    ctx = app[CTX]

    async def sweep_forever() -> None:
        while True:
            await asyncio.sleep(ctx.socket_sweep_seconds)
            try:
                await sweep_session_sockets(ctx)
            except CallcenterError:
                logger.exception("checking the sessions of open WebSockets failed")

    task = asyncio.create_task(sweep_forever(), name="session-socket-sweeper")
    yield
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task


async def audit(request: web.Request, action: str, target: str = "", **details: Any) -> None:
    """Record ``action`` by the logged-in user (see :mod:`callcenter.audit`)."""
    user = current_user(request)
    ctx = ctx_of(request)
    entry = AuditEntry(at=now_utc(request), actor=user.username if user else "",
                       action=action, target=target,
                       details={"path": request.path, "method": request.method,
                                "remote": client_address(request), **details})
    await ctx.audit.record(entry)


def _trusted_proxy(request: web.Request) -> bool:
    return (request.remote or "") in ctx_of(request).settings.web.trusted_proxy_addresses


def client_address(request: web.Request) -> str:
    """The client's IP: the last ``X-Forwarded-For`` hop when a trusted proxy sent it."""
    if _trusted_proxy(request):
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded.strip():
            return forwarded.split(",")[-1].strip()
    return request.remote or ""


def is_https(request: web.Request) -> bool:
    """The browser reached us over HTTPS (directly, or through a trusted TLS proxy)."""
    if request.secure:
        return True
    return (_trusted_proxy(request)
            and request.headers.get("X-Forwarded-Proto", "").lower() == "https")


def site_host(request: web.Request) -> str:
    """``host[:port]`` the browser used (a trusted proxy's ``X-Forwarded-Host``)."""
    if _trusted_proxy(request) and request.headers.get("X-Forwarded-Host"):
        return request.headers["X-Forwarded-Host"].split(",")[0].strip()
    return request.host


def same_origin(request: web.Request) -> bool:
    """True unless the browser says the request comes from another site: ``Origin`` present
    and not this host (``null`` included), or no Origin and ``Sec-Fetch-Site`` cross-site."""
    origin = request.headers.get("Origin")
    if origin is None:
        return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")
    parts = urlsplit(origin)
    return bool(parts.netloc) and parts.netloc.lower() == site_host(request).lower()


def require_same_origin(request: web.Request) -> None:
    """Raise ForeignOrigin (403) for a request from a page of another site; WebSocket
    handlers call it before the upgrade."""
    if not same_origin(request):
        raise ForeignOrigin(f"requests from {request.headers.get('Origin', 'another site')} "
                            "are not accepted")


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
        headers = ({"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyLogins)
                   else {})
        if wants_json(request):
            return web.json_response(body, status=exc.status, headers=headers)
        response = render(request, "error.html", status=exc.status, error=body)
        response.headers.update(headers)
        return response


@web.middleware
async def session_middleware(request: web.Request,
                             handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                             ) -> web.StreamResponse:
    ctx = ctx_of(request)
    request[LOCALE_KEY] = i18n.pick_locale(
        request.cookies.get(LANG_COOKIE), request.headers.get("Accept-Language", ""),
        ctx.settings.locale.default)
    token = request.cookies.get(COOKIE_NAME)
    if token and len(token) <= 128:
        digest = token_digest(token)
        found = await ctx.store.web_sessions.with_user(digest)
        if found is not None:
            record, user = found
            now = now_utc(request)
            state = session_state(record, now,
                                  idle_seconds=ctx.settings.web.session_idle_minutes * 60)
            if state is SessionState.LIVE and user.active:
                request[USER_KEY] = user
                request[SESSION_KEY] = digest
                if needs_touch(record, now):
                    await ctx.store.web_sessions.touch(digest, now)
    return await handler(request)


@web.middleware
async def request_guard(request: web.Request,
                        handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                        ) -> web.StreamResponse:
    """Origin and JSON-only checks of state-changing requests (see the module docstring)."""
    if request.method in STATE_CHANGING and request.path not in ctx_of(request).signed_paths:
        require_same_origin(request)
        if request.path not in FORM_PATHS and request.content_type != "application/json":
            raise JsonRequired
    return await handler(request)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every response, raised redirects and WebSockets included."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


# --------------------------------------------------------------------------- handlers


HEALTH_DETAIL_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR})


async def healthz(request: web.Request) -> web.Response:
    """``{"status": "ok"|"degraded"}``, 503 when the database is down. Administrators and
    supervisors also get every probe (``version``, ``database``, ``ami`` with its host …):
    anonymous callers learn nothing about the installation."""
    ctx = ctx_of(request)
    user = current_user(request)
    report: dict[str, Any] = {"status": "ok", "version": __version__}
    for name, probe in ctx.health.items():
        try:
            report[name] = await probe()
        except Exception as exc:  # a probe that fails is itself the finding
            report[name] = {"ok": False, "error": str(exc)}
    if not all(v.get("ok", True) for v in report.values() if isinstance(v, dict)):
        report["status"] = "degraded"
    status = 200 if report.get("database", {}).get("ok", True) else 503
    if user is None or user.role not in HEALTH_DETAIL_ROLES:
        report = {"status": report["status"]}
    return web.json_response(report, status=status)


async def login_page(request: web.Request) -> web.Response:
    return render(request, "login.html", next=_safe_next(request.query.get("next", "/")),
                  failed=False, username="")


MAX_LOGIN_FIELD = 256


async def login_submit(request: web.Request) -> web.Response:
    """Check the password (off the event loop), throttled per account and per address; on
    success start a server-side session. 401 wrong password, 429 throttled (with
    ``Retry-After``), 503 when too many checks are already waiting."""
    ctx = ctx_of(request)
    form = await request.post()
    username = str(form.get("username", "")).strip()[:MAX_LOGIN_FIELD]
    password = str(form.get("password", ""))[:MAX_LOGIN_FIELD]
    target = _safe_next(str(form.get("next", "/")))
    address = client_address(request)
    verdict = ctx.throttle.check(username, address, ctx.clock())
    if not verdict.allowed:
        logger.warning("login throttled for %r from %s (%s)", username, address, verdict.key)
        response = render(request, "login.html", status=429, next=target, failed=False,
                          throttled=verdict.retry_after, username=username)
        response.headers["Retry-After"] = str(verdict.retry_after)
        return response
    found = await ctx.store.users.credentials(username) if username else None
    usable = found is not None and found[0].active
    ok = await ctx.verifier.verify(found[1] if usable and found else None, password)
    if not ok or found is None:
        ctx.throttle.failed(username, address, ctx.clock())
        logger.info("login failed for %r from %s", username, address)
        return render(request, "login.html", status=401, next=target, failed=True,
                      username=username)
    user = found[0]
    ctx.throttle.succeeded(username)
    token = secrets.token_urlsafe(32)
    now = now_utc(request)
    await ctx.store.web_sessions.add(token_digest(token), user.id, now, address)
    # Sessions unseen for a shift can log nobody in: logins keep the table small.
    await ctx.store.web_sessions.purge(now - timedelta(seconds=SESSION_SECONDS))
    logger.info("user %s (%s) logged in from %s", user.username, user.role.value, address)
    response = web.HTTPFound(target if target != "/" else home_of(ctx, user))
    response.set_cookie(COOKIE_NAME, token, max_age=SESSION_SECONDS, httponly=True,
                        samesite="Strict", path="/",
                        secure=ctx.settings.web.cookie_secure or is_https(request))
    raise response


async def logout(request: web.Request) -> web.Response:
    """End the session on the server (the cookie is worthless from now on)."""
    digest = request.get(SESSION_KEY)
    if digest is not None:
        await ctx_of(request).store.web_sessions.revoke(digest, now_utc(request))
        await close_session_sockets(ctx_of(request), {digest})
        user = current_user(request)
        logger.info("user %s logged out", user.username if user else "?")
    response = web.HTTPFound("/login")
    response.del_cookie(COOKIE_NAME, path="/")
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
    links = [link for link in ctx.links if user.role in link.roles
             or (user.role is Role.ADMIN and link.for_admin)]
    if len(links) == 1 and user.role is not Role.ADMIN:
        raise web.HTTPFound(links[0].href)
    return render(request, "home.html", links=links)


def home_of(ctx: WebContext, user: User) -> str:
    for link in ctx.links:
        if user.role in link.home:
            return link.href
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

    template_dirs = [Path(__file__).resolve().parent / "templates"]
    for module in modules:
        template_dirs.extend(module.template_dirs)
    ctx = WebContext(
        settings=settings, store=store, clock=clock or time.time,
        catalogue=i18n.merge([i18n.MESSAGES, *(m.messages for m in modules)]),
        templates=template_environment(template_dirs),
        audit=store.audit,
        hub=hub or Hub(),
        health=dict(health or {}),
        links=[link for m in modules for link in m.links],
        signed_paths=frozenset(p for m in modules for p in m.signed_paths),
    )
    app = web.Application(middlewares=[session_middleware, error_middleware, request_guard],
                          client_max_size=8 * 1024 * 1024)
    app[CTX] = ctx
    app.on_response_prepare.append(security_headers)

    async def close_websockets(_app: web.Application) -> None:
        # Without this, shutdown waits for every open WebSocket to time out.
        await ctx.hub.close_all()

    async def close_verifier(_app: web.Application) -> None:
        ctx.verifier.close()

    app.on_shutdown.append(close_websockets)
    app.on_cleanup.append(close_verifier)
    app.cleanup_ctx.append(_socket_sweeper)
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
