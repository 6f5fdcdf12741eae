"""Every route of the fully built web app × every role → the expected HTTP status.

The table below is the access policy in one place. The app is built by the composition root
with every feature (business records, agent desktop, recordings), and the test walks
``app.router.routes()``: a route that is not in :data:`MATRIX` fails the test (add its row when
you add the route), and so does a row whose route no longer exists.

Each row: a concrete URL and JSON body, then the status for anonymous, agent (8001, who took
call ``c1`` but not ``c2``), dispatcher, supervisor, admin, team lead (between agent and
supervisor: reviews complaints, calls, recordings and rosters; no desk, no board). A status other than 401/403/302
means the role passed the gate and the handler ran (404/409/422/503 are its own answers on this
data set: no AMI connection, no such complaint …). Pages redirect anonymous browsers to the
login (302); the JSON API answers 401. WebSocket routes are asked without an upgrade, so a role
that passes gets 400 from the handshake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.app import Product, build_product
from callcenter.business.wrapup import form_from_json
from callcenter.db.models import RecordingRow
from callcenter.domain import MerchantInput, Role, TerminalInput
from callcenter.runtime import RunOptions
from callcenter.settings import load_settings
from tests.web_sessions import session_headers

LOGOUT = ("POST", "/logout")
ROLES = ("anonymous", "agent", "dispatcher", "supervisor", "admin", "team_lead")
SHOP = "102290058120001"


@dataclass(frozen=True)
class Row:
    url: str
    statuses: tuple[int, int, int, int, int, int]  # in the order of ROLES
    body: Any = None


# (method, route) → row. Keep sorted by module; see the module docstring for the columns.
MATRIX: dict[tuple[str, str], Row] = {
    # the shell (callcenter.web.app)
    # one page: straight to it (dispatchers); agents have the desk and their callbacks
    ("GET", "/"): Row("/", (302, 200, 302, 200, 200, 200)),
    ("GET", "/healthz"): Row("/healthz", (200, 200, 200, 200, 200, 200)),
    ("GET", "/login"): Row("/login", (200, 200, 200, 200, 200, 200)),
    ("POST", "/login"): Row("/login", (401, 401, 401, 401, 401, 401)),
    ("POST", "/logout"): Row("/logout", (302, 302, 302, 302, 302, 302)),
    ("GET", "/lang/{code}"): Row("/lang/en", (302, 302, 302, 302, 302, 302)),
    ("GET", "/static"): Row("/static/app.css", (200, 200, 200, 200, 200, 200)),
    # business records: API
    ("GET", "/api/calls/{linked_id}/wrapup"):
        Row("/api/calls/c1/wrapup", (401, 200, 403, 403, 200, 403)),
    ("POST", "/api/calls/{linked_id}/wrapup/check"):
        Row("/api/calls/c1/wrapup/check", (401, 422, 403, 403, 422, 403), {}),
    ("POST", "/api/calls/{linked_id}/wrapup"):
        Row("/api/calls/c1/wrapup", (401, 422, 403, 403, 422, 403), {}),
    ("GET", "/api/tasks/{task_number}"): Row("/api/tasks/{task}", (401, 403, 200, 200, 200, 200)),
    ("POST", "/api/tasks/{task_number}/actions"):
        Row("/api/tasks/{task}/actions", (401, 403, 422, 403, 422, 403), {"action": "?"}),
    ("GET", "/api/board/tasks"): Row("/api/board/tasks", (401, 403, 200, 403, 200, 403)),
    ("GET", "/api/alerts"): Row("/api/alerts", (401, 403, 200, 200, 200, 200)),
    ("POST", "/api/complaints/{complaint_id}/actions"):
        Row("/api/complaints/999/actions", (401, 403, 403, 404, 404, 404), {"action": "close"}),
    ("GET", "/api/complaints/daily"):
        Row("/api/complaints/daily?date=2026-11-22", (401, 403, 403, 200, 200, 200)),
    ("POST", "/api/outbox/{outbox_id}/requeue"):
        Row("/api/outbox/999/requeue", (401, 403, 404, 403, 404, 403), {}),
    ("POST", "/api/business/webhook"):  # signed, never a cookie: every caller alike
        Row("/api/business/webhook", (401, 401, 401, 401, 401, 401), {}),
    # business records: pages
    ("GET", "/board"): Row("/board", (302, 403, 200, 403, 200, 403)),
    ("GET", "/board/tasks/{task_number}"):
        Row("/board/tasks/{task}", (302, 403, 200, 200, 200, 200)),
    ("GET", "/ws/board"): Row("/ws/board", (302, 403, 400, 403, 400, 403)),
    ("GET", "/alerts"): Row("/alerts", (302, 403, 200, 200, 200, 200)),
    ("GET", "/complaints/daily"): Row("/complaints/daily", (302, 403, 403, 200, 200, 200)),
    ("GET", "/business/static"): Row("/business/static/board.js", (200, 200, 200, 200, 200, 200)),
    # agent desktop (cti.web); no AMI connection: login is 503, the rest 409 (not logged in),
    # and there is no demo phone (503)
    ("GET", "/desk"): Row("/desk", (302, 200, 403, 403, 403, 403)),
    ("GET", "/ws/agent"): Row("/ws/agent", (401, 400, 403, 403, 403, 403)),
    ("GET", "/api/agent/state"): Row("/api/agent/state", (401, 200, 403, 403, 403, 403)),
    ("POST", "/api/agent/login"): Row("/api/agent/login", (401, 503, 403, 403, 403, 403), {}),
    ("POST", "/api/agent/logout"): Row("/api/agent/logout", (401, 409, 403, 403, 403, 403), {}),
    ("POST", "/api/agent/pause"):
        Row("/api/agent/pause", (401, 409, 403, 403, 403, 403), {"reason": "lunch"}),
    ("POST", "/api/agent/resume"): Row("/api/agent/resume", (401, 409, 403, 403, 403, 403), {}),
    ("POST", "/api/agent/dial"): Row("/api/agent/dial", (401, 422, 403, 403, 403, 403), {}),
    ("POST", "/api/agent/transfer"): Row("/api/agent/transfer", (401, 422, 403, 403, 403, 403), {}),
    ("POST", "/api/agent/hangup"): Row("/api/agent/hangup", (401, 409, 403, 403, 403, 403), {}),
    ("POST", "/api/agent/phone/answer"):
        Row("/api/agent/phone/answer", (401, 503, 403, 403, 403, 403), {}),
    ("POST", "/api/agent/phone/hangup"):
        Row("/api/agent/phone/hangup", (401, 503, 403, 403, 403, 403), {}),
    ("GET", "/cti/static"): Row("/cti/static/desk.js", (200, 200, 200, 200, 200, 200)),
    # recordings: the agent of the call, supervisors, admins (c2 is not agent 8001's)
    ("GET", "/recordings/{token}"): Row("/recordings/r2", (302, 403, 403, 404, 404, 404)),
    # reports, staffing (supervisor, admin) and the roster (agents read theirs and ask swaps;
    # the roster's forms answer an anonymous browser with the login page; no roster yet: 404)
    ("GET", "/reports"): Row("/reports", (302, 403, 403, 200, 200, 200)),
    ("GET", "/api/reports/kpi"): Row("/api/reports/kpi?from=2026-11-01&to=2026-11-02&group=queue",
                                     (401, 403, 403, 200, 200, 200)),
    ("GET", "/api/reports/calls"): Row("/api/reports/calls?from=2026-11-01&to=2026-11-02",
                                       (401, 403, 403, 200, 200, 200)),
    ("GET", "/staffing"): Row("/staffing", (302, 403, 403, 200, 200, 200)),
    ("GET", "/api/staffing"): Row("/api/staffing?from=2026-11-01&to=2026-11-02", (401, 403, 403, 200, 200, 200)),
    ("GET", "/reports/static"): Row("/reports/static/reports.css", (200, 200, 200, 200, 200, 200)),
    ("GET", "/roster"): Row("/roster", (302, 200, 403, 200, 200, 200)),
    ("GET", "/api/roster"): Row("/api/roster", (401, 404, 403, 404, 404, 404)),
    # the whole hotline's roster is uploaded by supervisors and admins, not a team lead
    ("POST", "/roster/upload"): Row("/roster/upload", (302, 403, 403, 422, 422, 403), {}),
    ("POST", "/roster/swaps"): Row("/roster/swaps", (302, 422, 403, 422, 422, 422), {}),
    ("POST", "/roster/swaps/{id}/approve"):
        Row("/roster/swaps/999/approve", (302, 403, 403, 404, 404, 404), {}),
    ("POST", "/roster/swaps/{id}/reject"):
        Row("/roster/swaps/999/reject", (302, 403, 403, 404, 404, 404), {}),
    # recordings search, player and audit; quality inspection (agents: their own calls and
    # reviews; dispatchers: nothing; the playback audit: admins)
    ("GET", "/recordings"): Row("/recordings", (302, 200, 403, 200, 200, 200)),
    ("GET", "/recording/static"): Row("/recording/static/recordings.js", (200, 200, 200, 200, 200, 200)),
    ("GET", "/api/recordings"): Row("/api/recordings", (401, 200, 403, 200, 200, 200)),
    ("GET", "/api/recordings/{token}"): Row("/api/recordings/r2", (401, 403, 403, 200, 200, 200)),
    ("GET", "/api/recordings/access"): Row("/api/recordings/access", (401, 403, 403, 403, 200, 403)),
    ("GET", "/api/recordings/purges"): Row("/api/recordings/purges", (401, 403, 403, 200, 200, 403)),
    ("GET", "/qa"): Row("/qa", (302, 200, 403, 200, 200, 200)),
    ("GET", "/api/qa/form"): Row("/api/qa/form", (401, 200, 403, 200, 200, 200)),
    ("GET", "/api/qa/reviews"): Row("/api/qa/reviews", (401, 200, 403, 200, 200, 200)),
    ("GET", "/api/qa/assignments"): Row("/api/qa/assignments", (401, 403, 403, 200, 200, 200)),
    ("POST", "/api/qa/draw"): Row("/api/qa/draw", (401, 403, 403, 200, 200, 200), {}),
    ("POST", "/api/qa/assignments/{id}/review"):
        Row("/api/qa/assignments/999/review", (401, 403, 403, 422, 422, 422), {}),
    ("GET", "/api/qa/summary"): Row("/api/qa/summary", (401, 403, 403, 200, 200, 200)),
    ("POST", "/api/qa/reviews/{id}/answer"):
        Row("/api/qa/reviews/999/answer", (401, 422, 403, 403, 422, 403), {}),
    ("POST", "/api/qa/reviews/{id}/correction"):
        Row("/api/qa/reviews/999/correction", (401, 403, 403, 403, 422, 403), {}),
    # speech: transcripts and their search for supervisors; an agent may pre-fill the wrap-up
    # of their own call from its transcript (c1 is agent 8001's, none is transcribed: '')
    ("GET", "/speech/search"): Row("/speech/search?q=投诉", (302, 403, 403, 200, 200, 200)),
    ("GET", "/speech/recordings/{token}"): Row("/speech/recordings/r2", (302, 403, 403, 200, 200, 200)),
    ("GET", "/api/speech/recordings/{token}"):
        Row("/api/speech/recordings/r2", (401, 403, 403, 200, 200, 200)),
    ("GET", "/api/speech/calls/{linked_id}/prefill"):
        Row("/api/speech/calls/c1/prefill", (401, 200, 403, 200, 200, 200)),
    ("GET", "/speech/static"): Row("/speech/static/player.js", (200, 200, 200, 200, 200, 200)),
    # callbacks (回访): agents see and fill in their own; supervisors (the team lead) plan,
    # upload, review and summarize; no callback 999 (404)
    ("GET", "/callbacks"): Row("/callbacks", (302, 200, 403, 200, 200, 200)),
    ("GET", "/api/callbacks"): Row("/api/callbacks?state=planned", (401, 200, 403, 200, 200, 200)),
    ("GET", "/api/callbacks/summary"):
        Row("/api/callbacks/summary?month=2026-11", (401, 403, 403, 200, 200, 200)),
    ("GET", "/api/callbacks/{callback_id}"):
        Row("/api/callbacks/999", (401, 404, 403, 404, 404, 404)),
    ("POST", "/api/callbacks/{callback_id}/form"):
        Row("/api/callbacks/999/form", (401, 404, 403, 404, 404, 404), {}),
    ("POST", "/api/callbacks/{callback_id}/review"):
        Row("/api/callbacks/999/review", (401, 403, 403, 404, 404, 404), {}),
    ("POST", "/api/callbacks/plan"):
        Row("/api/callbacks/plan", (401, 403, 403, 200, 200, 200), {"date": "2026-11-22"}),
    ("POST", "/api/callbacks/upload"): Row("/api/callbacks/upload", (401, 403, 403, 422, 422, 422), {}),
    ("GET", "/callbacks/static"): Row("/callbacks/static/callbacks.js", (200, 200, 200, 200, 200, 200)),
    # keep-my-place call-backs offered on the agent's desk: only agents answer them
    ("POST", "/api/callbacks/{callback_id}/accept"):
        Row("/api/callbacks/999/accept", (401, 409, 403, 403, 403, 403), {}),
    ("POST", "/api/callbacks/{callback_id}/decline"):
        Row("/api/callbacks/999/decline", (401, 409, 403, 403, 403, 403), {}),
    ("POST", "/api/callbacks/{callback_id}/outcome"):
        Row("/api/callbacks/999/outcome", (401, 404, 403, 403, 403, 403), {"reached": True}),
    ("POST", "/api/callbacks/{callback_id}/open"):
        Row("/api/callbacks/999/open", (401, 404, 403, 403, 403, 403), {}),
    # supervision: the wallboard (supervisor, admin)
    ("GET", "/wallboard"): Row("/wallboard", (302, 403, 403, 200, 200, 403)),
    ("GET", "/ws/wallboard"): Row("/ws/wallboard", (401, 403, 403, 400, 400, 403)),
    ("GET", "/api/wallboard"): Row("/api/wallboard", (401, 403, 403, 200, 200, 403)),
    ("POST", "/api/supervisor/monitor"):  # no phone on the supervisor's account here
        Row("/api/supervisor/monitor", (401, 403, 403, 409, 409, 403),
            {"agent": "8001", "mode": "listen"}),
    ("GET", "/api/supervisor/audit"): Row("/api/supervisor/audit", (401, 403, 403, 200, 200, 403)),
    ("POST", "/api/supervisor/agents/{number}/pause"):  # 8001 is not logged in: 409
        Row("/api/supervisor/agents/8001/pause", (401, 403, 403, 409, 409, 403), {"reason": "meeting"}),
    ("POST", "/api/supervisor/agents/{number}/logout"):
        Row("/api/supervisor/agents/8001/logout", (401, 403, 403, 409, 409, 403), {}),
    ("GET", "/supervision/static"):
        Row("/supervision/static/wallboard.js", (200, 200, 200, 200, 200, 200)),
    # the administration console (callcenter.admin): admins only
    ("GET", "/admin"): Row("/admin", (302, 403, 403, 403, 200, 403)),
    ("GET", "/api/admin/users"): Row("/api/admin/users", (401, 403, 403, 403, 200, 403)),
    ("POST", "/api/admin/users"): Row("/api/admin/users", (401, 403, 403, 403, 422, 403), {}),
    ("POST", "/api/admin/users/{username}"):
        Row("/api/admin/users/nobody", (401, 403, 403, 403, 404, 403), {"action": "disable"}),
    ("POST", "/api/admin/import/{kind}"):
        Row("/api/admin/import/merchants", (401, 403, 403, 403, 422, 403), {}),
    ("GET", "/api/admin/audit"): Row("/api/admin/audit", (401, 403, 403, 403, 200, 403)),
    ("GET", "/api/admin/settings"): Row("/api/admin/settings", (401, 403, 403, 403, 200, 403)),
    ("POST", "/api/admin/settings"):  # an empty change: 400, nothing stored
        Row("/api/admin/settings", (401, 403, 403, 403, 400, 403), {}),
    ("GET", "/admin/static"): Row("/admin/static/admin.js", (200, 200, 200, 200, 200, 200)),
    # Prometheus metrics: not a role's page; metrics.allowed_networks (loopback here) and an
    # optional bearer token decide (tests/callcenter/test_metrics.py checks the refusals)
    ("GET", "/metrics"): Row("/metrics", (200, 200, 200, 200, 200, 200)),
}


@dataclass
class App:
    client: TestClient[Any, Any]
    headers: dict[str, dict[str, str]]
    task: str
    routes: set[tuple[str, str]]


@pytest.fixture
async def app(sqlite_url: str, tmp_path: Any) -> AsyncIterator[App]:
    settings = load_settings(environ={"CALLCENTER_DATABASE_URL": sqlite_url,
                                      "CALLCENTER_RECORDING_DIR": str(tmp_path)})
    product = await build_product(settings, RunOptions(fastagi=False, ami=False))
    try:
        async with _served(product) as served:
            yield served
    finally:
        await product.stop()


@asynccontextmanager
async def _served(product: Product) -> AsyncIterator[App]:
    assert product.web is not None
    store = product.runtime.store
    now = datetime.now(UTC)
    await store.merchants.upsert_many([MerchantInput(
        SHOP, "鑫源便利店", "上海市浦东新区张杨路 100 号", "浦东新区", "王伟",
        ("02150551234",), "09:00-21:00")], now)
    shop = await store.merchants.by_number(SHOP)
    assert shop is not None
    await store.terminals.upsert_many([TerminalInput("LANDI-A8-0001", "LANDI A8", SHOP, None)],
                                      {SHOP: shop.id})
    ids = {}
    for name, role in (("agent", Role.AGENT), ("other", Role.AGENT),
                       ("dispatcher", Role.DISPATCHER), ("supervisor", Role.SUPERVISOR),
                       ("admin", Role.ADMIN), ("team_lead", Role.TEAM_LEAD)):
        ids[name] = (await store.users.add(name, name, role, "!", now)).id
    await store.agents.add("8001", "agent", "PJSIP/8001", ["hotline"], ids["agent"])
    await store.agents.add("8002", "other", "PJSIP/8002", ["hotline"], ids["other"])
    for linked_id, agent in (("c1", "8001"), ("c2", "8002")):
        start = now - timedelta(minutes=5)
        await store.calls.upsert(linked_id, start, caller_number="02150551234",
                                 merchant_id=shop.id, merchant_verified=True, agent_number=agent,
                                 queue="hotline", answered_at=start + timedelta(seconds=20),
                                 ended_at=now - timedelta(minutes=1))
    outcome = await product.business.record_wrapup("c2", form_from_json({
        "disposition": "repair", "address": shop.address, "site_phone": "02150551234",
        "business_hours": "09:00-21:00", "contact_person": "王伟",
        "product_model": "LANDI A8", "terminal_serial": "LANDI-A8-0001", "description": "刷卡无反应"}),
        agent_number="8002", now=now)
    assert outcome.task is not None
    async with store.transaction() as s:
        s.add(RecordingRow(token="r2", linked_id="c2", path="missing.wav"))
    headers = {"anonymous": {}}
    for role in ROLES[1:]:
        headers[role] = await session_headers(store, ids[role], now)
    routes = {(r.method, r.resource.canonical) for r in product.web.app.router.routes()
              if r.resource is not None}
    async with TestClient(TestServer(product.web.app)) as client:
        yield App(client, headers, outcome.task.task_number, routes)


def test_every_route_has_a_row_and_every_row_a_route(app: App) -> None:
    gets = {path for method, path in app.routes if method == "GET"}
    heads = {path for method, path in app.routes if method == "HEAD"}
    assert heads <= gets  # HEAD answers as GET does
    served = {route for route in app.routes if route[0] != "HEAD"}
    assert served - set(MATRIX) == set(), "routes without a row in MATRIX"
    assert set(MATRIX) - served == set(), "rows of routes that no longer exist"


async def test_every_role_gets_the_status_of_the_matrix(app: App) -> None:
    wrong = []
    # /logout ends each role's session: ask it last
    for (method, route), row in sorted(MATRIX.items(), key=lambda i: i[0] == LOGOUT):
        url = row.url.replace("{task}", app.task)
        for role, expected in zip(ROLES, row.statuses, strict=True):
            r = await app.client.request(method, url, json=row.body,
                                         headers=app.headers[role], allow_redirects=False)
            if r.status != expected:
                wrong.append(f"{method} {route} as {role}: {r.status}, expected {expected} "
                             f"({(await r.text())[:120]!r})")
    assert wrong == [], "\n".join(wrong)


async def test_no_page_shows_a_role_a_menu_link_that_answers_403(app: App) -> None:
    """Every page a role may open (200 HTML in the matrix): the links of its top bar and of
    the home page answer that role without 401/403."""
    import re

    bad = []
    for (method, route), row in MATRIX.items():
        if method != "GET" or route.startswith(("/api/", "/ws/", "/static", "/metrics")):
            continue
        url = row.url.replace("{task}", app.task)
        for role, expected in zip(ROLES[1:], row.statuses[1:], strict=True):
            if expected != 200:
                continue
            page = await app.client.get(url, headers=app.headers[role], allow_redirects=False)
            if "text/html" not in page.headers.get("Content-Type", ""):
                continue
            html = await page.text()
            nav = " ".join(re.findall(r"<nav>(.*?)</nav>", html, re.S))
            if route == "/":
                nav += " " + html
            for href in set(re.findall(r'<a[^>]* href="(/[^"]*)"', nav)):
                if href.startswith(("/lang/", "/logout")):
                    continue
                r = await app.client.get(href.replace("&amp;", "&"), headers=app.headers[role],
                                         allow_redirects=False)
                if r.status in (401, 403):
                    bad.append(f"{role} on {url}: link {href} answers {r.status}")
    assert bad == [], "\n".join(bad)


async def test_an_agent_has_a_home_link_to_their_recordings_and_still_lands_on_the_desk(
        app: App) -> None:
    from callcenter.web.app import CTX, home_of

    home = await app.client.get("/", headers=app.headers["agent"], allow_redirects=False)
    assert home.status == 200
    html = await home.text()
    assert 'href="/recordings"' in html and 'href="/desk"' in html
    ctx = app.client.app[CTX]  # type: ignore[index]
    users = {u.role: u for u in await ctx.store.users.list()}
    assert home_of(ctx, users[Role.AGENT]) == "/desk"
    # the page answers them (their own calls only: tests/recording/test_search_web.py)
    page = await app.client.get("/recordings", headers=app.headers["agent"])
    assert page.status == 200 and 'id="rc-purges"' not in await page.text()
async def test_the_admins_home_links_every_page_that_opens_for_an_admin(app: App) -> None:
    """The admin's home is the page that links to all: every link there opens for an admin
    (the desk, an agent's own page, is opened as an agent with ``?agent=`` and not listed)."""
    import re

    home = await app.client.get("/", headers=app.headers["admin"], allow_redirects=False)
    assert home.status == 200
    hrefs = set(re.findall(r'<ul class="links">(.*?)</ul>', await home.text(), re.S))
    links = set(re.findall(r'href="(/[^"]*)"', " ".join(hrefs)))
    assert {"/wallboard", "/board", "/admin", "/reports"} <= links and "/desk" not in links
    for href in links:
        r = await app.client.get(href, headers=app.headers["admin"], allow_redirects=False)
        assert r.status == 200, f"{href} answers the admin {r.status}"


async def test_a_supervisor_lands_on_the_wallboard(app: App) -> None:
    from callcenter.web.app import CTX, home_of

    ctx = app.client.app[CTX]  # type: ignore[index]
    users = {u.role: u for u in await ctx.store.users.list()}
    assert home_of(ctx, users[Role.SUPERVISOR]) == "/wallboard"
    assert home_of(ctx, users[Role.AGENT]) == "/desk"
    assert home_of(ctx, users[Role.DISPATCHER]) == "/board"
