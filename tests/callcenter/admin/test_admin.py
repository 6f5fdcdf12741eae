"""The administration console, /admin: its JSON API on the real app (accounts, CSV uploads with
the CLI's row-level report, the audit log), then the page in headless Chromium.

Screenshot: /tmp/admin.png.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.admin.web import web_module
from callcenter.auth import hash_password
from callcenter.db.repositories import Store
from callcenter.domain import Role
from callcenter.runtime_settings_store import (
    LiveRuntimeSettings,
    SqlRuntimeSettingsStore,
    file_defaults,
)
from callcenter.settings import load_settings
from callcenter.web.app import build_web_app
from tests.web_sessions import session_headers

HEADER = "merchant_number,name,address,district,contact_person,phones,business_hours,tags\n"
GOOD = "310115000000001,浦东便利店,上海市浦东新区张杨路500号,浦东新区,王伟,13800138000,08:00-22:00,\n"
BAD = "31011500000000,短号商户,地址,区,人,13800138001,09:00-21:00,\n"
CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "admin-password-1"


@dataclass
class Console:
    client: TestClient[Any, Any]
    store: Store
    admin: dict[str, str]
    supervisor: dict[str, str]


@pytest.fixture
async def console(sqlite_store: Store) -> AsyncIterator[Console]:
    store = sqlite_store
    now = datetime.now(UTC)
    admin = await store.users.add("root", "管理员", Role.ADMIN, hash_password(PASSWORD), now)
    boss = await store.users.add("boss", "主管", Role.SUPERVISOR, "!", now)
    settings = load_settings(environ={"CALLCENTER_WEB_SESSION_SECRET": "admin-test"})
    live = LiveRuntimeSettings(SqlRuntimeSettingsStore(store), file_defaults(settings))
    app = build_web_app(settings, store, modules=[web_module(live)])
    async with TestClient(TestServer(app)) as client:
        yield Console(client, store, await session_headers(store, admin.id, now),
                      await session_headers(store, boss.id, now))


async def post(c: Console, url: str, body: Any) -> tuple[int, Any]:
    r = await c.client.post(url, json=body, headers=c.admin)
    return r.status, await r.json()


async def test_an_admin_adds_an_agent_then_changes_it_and_every_change_is_audited(
        console: Console) -> None:
    c = console
    status, agent = await post(c, "/api/admin/users", {
        "username": "8101", "display_name": "张三", "role": "agent", "password": "password-1",
        "agent_number": "8101", "interface": "PJSIP/8101", "queues": "aftersales"})
    assert status == 201, agent
    assert agent["agent_number"] == "8101" and agent["queues"] == ["aftersales"]
    status, lead = await post(c, "/api/admin/users", {
        "username": "lead1", "role": "team_lead", "password": "password-1"})
    assert status == 201 and lead["role"] == "team_lead" and lead["agent_number"] is None

    for body, check in [
        ({"action": "queues", "queues": ["aftersales", "presales"]},
         lambda u: u["queues"] == ["aftersales", "presales"]),
        ({"action": "interface", "interface": "PJSIP/8111"},
         lambda u: u["interface"] == "PJSIP/8111"),
        ({"action": "password", "password": "password-2"}, lambda u: True),
        ({"action": "disable"}, lambda u: u["active"] is False),
        ({"action": "enable"}, lambda u: u["active"] is True),
    ]:
        status, user = await post(c, "/api/admin/users/8101", body)
        assert status == 200 and check(user), (body, user)
    status, user = await post(c, "/api/admin/users/lead1", {"action": "role", "role": "supervisor"})
    assert status == 200 and user["role"] == "supervisor"

    listed = await (await c.client.get("/api/admin/users", headers=c.admin)).json()
    assert {u["username"] for u in listed["users"]} == {"root", "boss", "8101", "lead1"}
    log = await (await c.client.get("/api/admin/audit", headers=c.admin)).json()
    assert [(e["actor"], e["action"], e["target"]) for e in reversed(log["entries"])] == [
        ("root", "user.add", "8101"), ("root", "user.add", "lead1"),
        ("root", "user.queues", "8101"), ("root", "user.interface", "8101"),
        ("root", "user.password", "8101"), ("root", "user.disable", "8101"),
        ("root", "user.disable", "8101"), ("root", "user.role", "lead1")]


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"username": "x y", "role": "agent", "password": "password-1"}, 422, "username"),
    ({"username": "8102", "role": "agent", "password": "short"}, 422, "password"),
    ({"username": "8102", "role": "agent", "password": "password-1", "interface": "PJSIP/8102",
      "queues": "nowhere"}, 422, "queues"),
    ({"username": "boss", "role": "admin", "password": "password-1"}, 409, None),
    ({"username": "u", "role": "emperor", "password": "password-1"}, 422, "role"),
])
async def test_a_bad_account_is_refused_naming_the_field(
        console: Console, body: dict[str, Any], status: int, field: str | None) -> None:
    got, answer = await post(console, "/api/admin/users", body)
    assert got == status, answer
    if field:
        assert answer["field"] == field


async def test_an_admin_cannot_lock_themselves_out(console: Console) -> None:
    assert (await post(console, "/api/admin/users/root", {"action": "disable"}))[0] == 409
    assert (await post(console, "/api/admin/users/root",
                       {"action": "role", "role": "agent"}))[0] == 409


async def test_a_csv_with_a_bad_row_writes_nothing_and_reports_the_row(console: Console) -> None:
    c = console
    status, report = await post(c, "/api/admin/import/merchants", {"csv": HEADER + GOOD + BAD})
    assert status == 422 and report["committed"] is False
    assert [(e["line"], e["field"]) for e in report["errors"]] == [(3, "merchant_number")]
    assert await c.store.merchants.count() == 0
    status, report = await post(c, "/api/admin/import/merchants", {"csv": "\ufeff" + HEADER + GOOD})
    assert status == 200 and report["created"] == 1 and report["committed"] is True
    terminals = "serial,model,merchant_number,install_date,status\n" \
                "LA0000999,LANDI A8,310115000000009,,active\n"
    status, report = await post(c, "/api/admin/import/terminals", {"csv": terminals})
    assert status == 422 and report["errors"][0]["code"] == "unknown_merchant"
    assert report["errors"][0]["params"] == {"number": "310115000000009"}
    log = await (await c.client.get("/api/admin/audit?action=import", headers=c.admin)).json()
    assert [(e["target"], e["details"]["committed"]) for e in reversed(log["entries"])] == [
        ("merchants", False), ("merchants", True), ("terminals", False)]


@pytest.mark.parametrize(("lang", "message"), [
    ("zh-CN", "不是有效的手机、固话或服务号码：“555”"),
    ("en", "not a valid mobile, landline or service number: '555'"),
])
async def test_the_row_report_speaks_the_requests_language_and_keeps_the_code(
        console: Console, lang: str, message: str) -> None:
    bad_phone = GOOD.replace("13800138000", "555")
    r = await console.client.post("/api/admin/import/merchants", json={"csv": HEADER + bad_phone},
                                  headers={**console.admin, "Accept-Language": lang})
    report = await r.json()
    assert r.status == 422 and report["committed"] is False
    [error] = report["errors"]
    assert (error["line"], error["field"], error["code"], error["params"]) == (
        2, "phones", "phone_invalid", {"value": "555"})
    assert error["message"] == message
    assert await console.store.merchants.count() == 0


async def test_only_admins_reach_the_console(console: Console) -> None:
    r = await console.client.get("/api/admin/users", headers=console.supervisor)
    assert r.status == 403
    r = await console.client.post("/api/admin/import/merchants", json={"csv": HEADER + GOOD},
                                  headers=console.supervisor)
    assert r.status == 403


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="the browser test needs Chromium")
async def test_the_console_page_adds_an_account_and_shows_a_bad_csv_row(
        console: Console, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    c = console
    base = str(c.client.make_url("")).rstrip("/")
    csv_file = tmp_path / "merchants.csv"
    csv_file.write_text(HEADER + GOOD + BAD, encoding="utf-8")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM),
                                          args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = await (await browser.new_context(
                locale="zh-CN", viewport={"width": 1366, "height": 768})).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(base + "/login")
            await page.fill("input[name=username]", "root")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.goto(base + "/admin")
            await page.wait_for_selector("#admin[data-ready='1']")
            form = "#add-user"
            await page.fill(f"{form} input[name=username]", "8103")
            await page.fill(f"{form} input[name=display_name]", "李四")
            await page.select_option(f"{form} select[name=role]", "agent")
            await page.fill(f"{form} input[name=password]", "password-1")
            await page.fill(f"{form} input[name=agent_number]", "8103")
            await page.fill(f"{form} input[name=interface]", "PJSIP/8103")
            await page.click(f"{form} button[type=submit]")
            await page.wait_for_selector("#users tr[data-user='8103']")
            await page.wait_for_selector("#audit td:has-text('user.add')")
            await page.set_input_files("#import input[name=file]", str(csv_file))
            await page.click("#import button[type=submit]")
            await page.wait_for_selector("#import-report .bad-rows li")
            report = await page.text_content("#import-report") or ""
            assert "第 3 行 · 商户号：商户号须为 15 位数字，实际为“31011500000000”" in report
            assert "新增 0 条，更新 0 条，未变 0 条，错误行 1 行；未写入" in report
            await page.screenshot(path="/tmp/admin.png", full_page=True)
            # the same report in English
            await page.goto(base + "/lang/en")
            await page.goto(base + "/admin")
            await page.wait_for_selector("#admin[data-ready='1']")
            await page.set_input_files("#import input[name=file]", str(csv_file))
            await page.click("#import button[type=submit]")
            await page.wait_for_selector("#import-report .bad-rows li")
            report = await page.text_content("#import-report") or ""
            assert "0 created, 0 updated, 0 unchanged, 1 bad row(s); NOT committed" in report
            assert ("line 3 · merchant number: a merchant number is exactly 15 digits, "
                    "got '31011500000000'") in report
            await page.locator("#import").scroll_into_view_if_needed()
            await page.screenshot(path="/tmp/shots-a/admin-import-en.png")
            assert errors == []
        finally:
            await browser.close()
