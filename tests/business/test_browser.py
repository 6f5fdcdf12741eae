"""Headless Chromium: the dispatcher board is open, an agent's wrap-up creates a repair, and
the repair appears on the board without a reload. Leaves a screenshot at /tmp/board.png."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from callcenter.business.task_state import Command, TaskAction
from callcenter.db.repositories import Store
from tests.page_scripts import VIOLATIONS, assert_strict_csp_held, enforce_strict_csp

from .conftest import NOW, SECOND_SERIAL, add_call, repair_form
from .web_env import WebEnv, web_env

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path(os.environ.get("BOARD_SCREENSHOT", "/tmp/board.png"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: the browser test needs Chromium")
    return CHROMIUM


@pytest.fixture
async def env(sqlite_store: Store, chromium: Path) -> AsyncIterator[WebEnv]:
    async with web_env(sqlite_store, prepare=enforce_strict_csp) as e:  # pages under a CSP
        yield e


async def test_a_new_repair_appears_on_the_open_board_without_reload(env: WebEnv) -> None:
    from playwright.async_api import async_playwright

    # a working morning on the board: a repair without progress for 4 hours (overdue), an
    # installation with its engineer and appointment
    await add_call(env.store, "earlier", merchant_id=env.seed.other.id, agent="8002")
    await env.service.record_wrapup(
        "earlier", repair_form(terminal_serial="PAX-A920-0009", product_model="PAX A920",
                               address="上海市徐汇区漕溪北路 8 号", description="打印机卡纸"),
        agent_number="8002", now=NOW - timedelta(hours=4))
    await add_call(env.store, "install", merchant_id=env.seed.shop.id)
    installation = await env.service.record_wrapup("install", repair_form(
        disposition="installation", terminal_serial="", product_model="",
        description="新增一台收银终端"), agent_number="8001", now=NOW - timedelta(minutes=40))
    assert installation.task is not None
    for command in (Command(TaskAction.ASSIGN, engineer="李工"),
                    Command(TaskAction.APPOINT, appointment_at=NOW + timedelta(hours=5))):
        await env.service.change_status(installation.task.task_number, command,
                                        actor="disp", now=NOW - timedelta(minutes=30))
    await add_call(env.store, "1795330137.1", merchant_id=env.seed.shop.id, agent="8001")

    base = str(env.client.make_url("/")).rstrip("/")
    cookie = (await env.auth("disp"))["Cookie"].split("=", 1)[1]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = await browser.new_context(locale="zh-CN", viewport={
                "width": 1400, "height": 720})
            await context.add_cookies([{"name": "cc_session", "value": cookie,
                                        "url": base}])
            await context.add_init_script(VIOLATIONS)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(base + "/board")
            await page.wait_for_selector("#bz-board[data-live='1']", timeout=10_000)
            rows = page.locator("#bz-tasks tbody tr")
            assert await rows.count() == 2
            navigations: list[str] = []
            page.on("framenavigated", lambda frame: navigations.append(frame.url))

            # the agent saves the wrap-up through the desktop API
            r = await env.client.post("/api/calls/1795330137.1/wrapup",
                                      headers=await env.auth("agent1"), json={
                                          "disposition": "repair",
                                          "address": "上海市浦东新区张杨路 100 号",
                                          "site_phone": "021-5055 1234",
                                          "business_hours": "09:00-21:00",
                                          "contact_person": "王伟",
                                          "product_model": "LANDI A8",
                                          "terminal_serial": SECOND_SERIAL,
                                          "description": "刷卡无反应，屏幕提示通讯失败"})
            assert r.status == 201, await r.text()
            number = (await r.json())["record"]["task_number"]

            row = page.locator(f"#bz-tasks tbody tr[data-number='{number}']")
            await row.wait_for(timeout=10_000)
            assert navigations == []  # no reload: the socket brought it
            assert await rows.count() == 3
            text = await row.inner_text()
            assert "维修" in text and "新建" in text and "鑫源便利店" in text
            assert SECOND_SERIAL in text and "2026-11-22 10:00" in text  # Asia/Shanghai
            overdue = page.locator("#bz-tasks tbody tr.overdue")
            assert await overdue.count() == 1 and "已超时" in await overdue.inner_text()
            await page.wait_for_timeout(400)  # let the highlight settle into the picture
            await page.screenshot(path=str(SCREENSHOT), full_page=True)
            await assert_strict_csp_held(page)
            assert errors == []
        finally:
            await browser.close()
