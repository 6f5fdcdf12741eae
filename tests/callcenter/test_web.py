"""Web app: login, roles, languages, health — through aiohttp's test client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcenter.domain import Role
from callcenter.service import add_user
from callcenter.settings import load_settings
from callcenter.web.app import PageLink, WebModule, build_web_app, require
from tests.page_scripts import COMMON_JS, page_scripts

NOW = datetime(2026, 11, 22, tzinfo=UTC)


async def secret_board(request: web.Request) -> web.Response:
    require(request, Role.DISPATCHER)
    return web.Response(text="board")


BOARD = WebModule(
    name="board",
    setup=lambda app: app.router.add_get("/board", secret_board),
    messages={"nav.board": {"zh-CN": "调度台", "en": "Board"}},
    links=[PageLink("/board", "nav.board", frozenset({Role.DISPATCHER}))],
)


@pytest.fixture
async def client(sqlite_store: Any) -> AsyncIterator[TestClient[Any, Any]]:
    for name, role in (("admin", Role.ADMIN), ("disp", Role.DISPATCHER),
                       ("sup", Role.SUPERVISOR)):
        await add_user(sqlite_store, NOW, username=name, display_name=name, role=role,
                       password="password-1")
    settings = load_settings(environ={"CALLCENTER_WEB_SESSION_SECRET": "test-secret"})
    app = build_web_app(settings, sqlite_store, modules=[BOARD])
    async with TestClient(TestServer(app)) as c:
        yield c


async def login(client: TestClient[Any, Any], username: str) -> None:
    r = await client.post("/login", data={"username": username, "password": "password-1",
                                          "next": "/"}, allow_redirects=False)
    assert r.status == 302, await r.text()


async def test_healthz_reports_ok_without_login(client: TestClient[Any, Any]) -> None:
    r = await client.get("/healthz")
    assert r.status == 200
    assert (await r.json())["status"] == "ok"


async def test_pages_redirect_to_login_when_logged_out(client: TestClient[Any, Any]) -> None:
    r = await client.get("/board", allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == "/login?next=/board"


async def test_wrong_password_is_refused_with_401(client: TestClient[Any, Any]) -> None:
    r = await client.post("/login", data={"username": "disp", "password": "nope"},
                          allow_redirects=False)
    assert r.status == 401
    assert "cc_session" not in r.cookies


async def test_dispatcher_lands_on_board_and_supervisor_is_forbidden(
        client: TestClient[Any, Any]) -> None:
    await login(client, "disp")
    r = await client.get("/", allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == "/board"
    assert await (await client.get("/board")).text() == "board"
    client.session.cookie_jar.clear()
    await login(client, "sup")
    r = await client.get("/board")
    assert r.status == 403
    j = await client.get("/board", headers={"Accept": "application/json"})
    assert (await j.json())["error_id"] == "forbidden"


async def test_admin_sees_every_page(client: TestClient[Any, Any]) -> None:
    await login(client, "admin")
    r = await client.get("/board")
    assert r.status == 200


async def test_language_switch_changes_page_texts(client: TestClient[Any, Any]) -> None:
    r = await client.get("/login")
    assert "登录" in await r.text()
    await client.get("/lang/en?next=/login")
    r = await client.get("/login")
    assert "Log in" in await r.text()


async def test_open_redirects_are_refused(client: TestClient[Any, Any]) -> None:
    r = await client.post("/login", data={"username": "disp", "password": "password-1",
                                          "next": "//evil.example/x"}, allow_redirects=False)
    assert r.headers["Location"] == "/board"


async def test_forged_session_cookie_is_ignored(client: TestClient[Any, Any]) -> None:
    client.session.cookie_jar.update_cookies({"cc_session": "1.9999999999.forged"})
    r = await client.get("/board", allow_redirects=False)
    assert r.status == 302


async def test_static_assets_are_served_by_the_product(client: TestClient[Any, Any]) -> None:
    r = await client.get("/static/app.css")
    assert r.status == 200 and "--accent" in await r.text()
    r = await client.get(COMMON_JS)
    assert r.status == 200 and r.content_type in ("application/javascript", "text/javascript")
    assert "window.cc" in await r.text()


async def test_every_page_loads_the_shared_script_and_no_inline_script(
        client: TestClient[Any, Any]) -> None:
    pages = [await (await client.get("/login")).text()]
    await login(client, "sup")
    pages.append(await (await client.get("/")).text())
    forbidden = await client.get("/board")
    assert forbidden.status == 403
    pages.append(await forbidden.text())  # error.html
    for html in pages:
        assert page_scripts(html) == ([COMMON_JS], [])
