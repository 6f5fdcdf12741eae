"""Headless Chromium on /callbacks: the team lead plans the day, sees the planned 回访 (and a
keep-my-place call-back with its place and tries), records a callback's outcome on the form
(《服务质量电话回访表》), finds it under 已完成 and reviews it. Then the page in English.

Screenshots at 1366x768: /tmp/shots-e/callbacks-planned-zh.png, callbacks-form-zh.png,
callbacks-done-zh.png,
callbacks-en.png.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import update

from callcenter.callbacks.offers import QueueCallbackOffers
from callcenter.callbacks.rules import CallbackState
from callcenter.callbacks.service import CallbackService
from callcenter.callbacks.web import web_module
from callcenter.callbacks_store import SqlCallbackStore
from callcenter.db.models import CallRow, TaskRow
from callcenter.db.repositories import Store
from callcenter.domain import Role, TaskStatus
from callcenter.queue_callbacks import StoreCallbackRequests
from callcenter.web.app import build_web_app
from callcenter.web.hub import Hub
from callcenter.web.session import COOKIE_NAME
from ivr.ports import QueueCallbackRequest
from tests.business.conftest import (
    SHOP,
    TZ,
    add_agent,
    add_call,
    local_service,
    repair_form,
    seed,
)
from tests.business.web_env import business_settings
from tests.callbacks.test_offers import Desks
from tests.cti.test_desktop_browser import CHROMIUM, chromium
from tests.page_scripts import enforce_strict_csp
from tests.web_sessions import session_cookie

SHOTS = Path("/tmp/shots-e")

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: the browser test needs Chromium")]


@asynccontextmanager
async def callbacks_page(store: Store) -> AsyncIterator[tuple[str, str, CallbackService]]:
    """The page on a loopback server with yesterday's closed repair and low score, and a
    keep-my-place call-back that was not answered once; returns (base, lead's cookie)."""
    now = datetime.now(UTC)
    seeded = await seed(store)
    await add_agent(store, "8001")
    await add_agent(store, "8002")
    hub = Hub()
    yesterday = now - timedelta(days=1)
    await add_call(store, "c1", merchant_id=seeded.shop.id, ended_at=yesterday,
                   started_at=yesterday - timedelta(minutes=5))
    outcome = await local_service(store, hub).record_wrapup(  # type: ignore[arg-type]
        "c1", repair_form(), agent_number="8001", now=yesterday)
    assert outcome.task is not None
    async with store.transaction() as s:
        await s.execute(update(TaskRow).where(TaskRow.id == outcome.task.id)
                        .values(status=TaskStatus.DONE.value, updated_at=yesterday))
        await s.execute(update(CallRow).where(CallRow.linked_id == "c1").values(satisfaction=2))
    service = CallbackService(SqlCallbackStore(store), hub, TZ)
    await StoreCallbackRequests(store, service).request_callback(QueueCallbackRequest(
        call_id="1795339999.7", unique_id="1795339999.8", merchant_number=SHOP,
        number="13800138000", queue="aftersales", arrived_at=now - timedelta(minutes=20),
        priority=0, position=2, requested_at=now - timedelta(minutes=18)))
    offers = QueueCallbackOffers(service, Desks(free={"aftersales": ["8002"]}))
    [offer] = await offers.tick(now)
    await offers.accept(offer.callback_id, "8002", now)
    await offers.outcome(offer.callback_id, "8002", False, now)  # no answer: back in place
    lead = await store.users.add("banzhang", "班长", Role.TEAM_LEAD, "not-a-hash", now)
    cookie = await session_cookie(store, lead.id, now)
    app = build_web_app(business_settings(False), store, modules=[web_module(service)],
                        hub=hub)
    enforce_strict_csp(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), cookie, service
    finally:
        await server.close()


async def lead_page(browser: Any, base: str, cookie: str, locale: str) -> Any:
    context = await browser.new_context(locale=locale, viewport={"width": 1366, "height": 768})
    await context.add_cookies([{"name": COOKIE_NAME, "value": cookie, "url": base}])
    if locale == "en-US":
        await context.add_cookies([{"name": "cc_lang", "value": "en", "url": base}])
    return await context.new_page()


async def test_the_team_lead_plans_the_day_records_an_outcome_and_reviews_it(
        sqlite_store: Store) -> None:
    SHOTS.mkdir(exist_ok=True)  # noqa: ASYNC240 (a test's screenshot folder)
    async with callbacks_page(sqlite_store) as (base, cookie, service), \
            chromium() as browser:
        page = await lead_page(browser, base, cookie, "zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(base + "/callbacks")
        # before planning: only the keep-my-place call-back, with its place and tries
        await page.wait_for_selector("#cb-list tbody tr:has-text('排队回拨')")
        row = await page.text_content("#cb-list tbody tr:has-text('排队回拨')") or ""
        for text in ("鑫源便利店", "售后服务", "保留排队顺序，等待坐席", "第 1/3 次"):
            assert text in row, text
        assert await page.locator("#cb-list tbody tr:has-text('排队回拨') button").count() == 0

        async with page.expect_response("**/api/callbacks/plan") as planned:
            await page.click("#cb-plan")
        assert (await planned.value).ok
        await page.wait_for_selector("#cb-lead-status:has-text('+2')")
        await page.wait_for_function(
            "() => document.querySelectorAll('#cb-list tbody tr').length === 3")
        kinds = await page.locator("#cb-list tbody td:nth-child(2)").all_text_contents()
        assert sorted(kinds) == ["排队回拨", "服务回访", "服务回访"]
        await page.screenshot(path=str(SHOTS / "callbacks-planned-zh.png"))

        # the lead records the outcome of one service callback
        await page.locator("#cb-list tbody tr:has-text('服务回访') button").first.click()
        await page.wait_for_selector("#cb-form-card:not([hidden])")
        form = page.locator("#cb-form")
        for box in ("identity_stated", "purpose_stated", "accepted"):
            await form.locator(f"input[name={box}]").check()
        await form.locator("input[name=satisfaction]").fill("4")
        await form.locator("input[name=attitude]").fill("5")
        await form.locator("select[name=solved]").select_option("yes")
        await form.locator("select[name=outcome]").select_option("completed")
        await page.screenshot(path=str(SHOTS / "callbacks-form-zh.png"))
        async with page.expect_response("**/form") as saved:
            await form.locator("button[type=submit]").click()
        assert (await saved.value).ok, await (await saved.value).text()
        await page.wait_for_function(
            "() => document.querySelectorAll('#cb-list tbody tr').length === 2")

        await page.click("#cb-states a[data-state=done]")
        await page.wait_for_selector("#cb-list tbody tr:has-text('完成')")
        async with page.expect_response("**/review"):
            await page.click("#cb-list tbody tr button")
        await page.wait_for_selector("#cb-list tbody tr:has-text('已审核')")
        await page.screenshot(path=str(SHOTS / "callbacks-done-zh.png"))
        [done] = await service.find(state=CallbackState.DONE)
        assert done.reviewed_by == "banzhang" and done.answers["outcome"] == "completed"
        assert errors == []


async def test_the_callbacks_page_in_english(sqlite_store: Store) -> None:
    async with callbacks_page(sqlite_store) as (base, cookie, _service), \
            chromium() as browser:
        page = await lead_page(browser, base, cookie, "en-US")
        await page.goto(base + "/callbacks")
        await page.wait_for_selector("#cb-list tbody tr:has-text('Queue call-back')")
        row = await page.text_content("#cb-list tbody tr") or ""
        assert "After-sales · Keeps its place, waiting · try 1 of 3" in row
        await page.screenshot(path=str(SHOTS / "callbacks-en.png"))
