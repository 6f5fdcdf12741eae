"""Headless Chromium on the agent desktop: a keep-my-place call-back is offered to the agent
free in the caller's turn, the agent calls back (the product originates from the agent's
phone to the merchant, as click to dial does) and records that the merchant was reached.

The CTI is fed the real capture of scenario 01 up to the agent's log-in (QueueMemberAdded:
8001 is free in aftersales); the request is the IVR's, stored through the product's port.
Screenshots at 1366x768: /tmp/shots-e/desk-qcb-offer-zh.png, desk-qcb-dialling-zh.png,
desk-qcb-offer-en.png.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer

from callcenter.callback_desks import CtiAgentDesks
from callcenter.callbacks.keep_place import PlaceState
from callcenter.callbacks.offers import QueueCallbackOffers
from callcenter.callbacks.rules import CallbackState
from callcenter.callbacks.service import CallbackService
from callcenter.callbacks.web import web_module as callbacks_module
from callcenter.callbacks_store import SqlCallbackStore
from callcenter.cti_directory import StoreCtiDirectory
from callcenter.db.repositories import Store
from callcenter.queue_callbacks import StoreCallbackRequests
from callcenter.settings import load_settings
from callcenter.web.app import build_web_app
from callcenter.web.hub import Hub
from cti.service import CtiService
from cti.web import web_module
from ivr.ports import QueueCallbackRequest
from tests.cti import test_service
from tests.cti.test_desktop_browser import (
    CHROMIUM,
    SCENARIO,
    Desk,
    chromium,
    events,
    log_in,
)
from tests.cti.test_service import BASE, seed
from tests.fakes.ami_actions import FakeAmiActions
from tests.page_scripts import enforce_strict_csp

template_db = test_service.template_db
cti_store = test_service.cti_store

SHOTS = Path("/tmp/shots-e")
MERCHANT = "123456789012345"
CALL = "1795339999.7"

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: the browser test needs Chromium")]


@asynccontextmanager
async def desk_with_offers(store: Store) -> AsyncIterator[tuple[Desk, QueueCallbackOffers]]:
    await seed(store)
    hub = Hub()
    ami = FakeAmiActions()
    clock = [BASE]
    cti = CtiService(StoreCtiDirectory(store), hub, clock=lambda: clock[0])
    cti.attach(ami)
    await cti.start()
    callbacks = CallbackService(SqlCallbackStore(store), hub, ZoneInfo("Asia/Shanghai"))
    offers = QueueCallbackOffers(callbacks, CtiAgentDesks(cti, store), offer_timeout_s=120)
    settings = load_settings(environ={"CALLCENTER_WEB_SESSION_SECRET": "browser-secret"})
    app = build_web_app(settings, store, hub=hub,
                        modules=[web_module(cti), callbacks_module(callbacks, offers)])
    enforce_strict_csp(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Desk(str(server.make_url("")).rstrip("/"), cti, ami, events(SCENARIO), clock,
                   store), offers
    finally:
        await server.close()
        await cti.stop()


async def book(store: Store, offers: QueueCallbackOffers, now: datetime) -> None:
    await StoreCallbackRequests(store, offers.callbacks).request_callback(QueueCallbackRequest(
        call_id=CALL, unique_id=CALL, merchant_number=MERCHANT, number="13800138000",
        queue="aftersales", arrived_at=now - timedelta(minutes=3), priority=0, position=1,
        requested_at=now))


async def test_the_free_agent_is_offered_the_call_back_calls_back_and_records_it(
        cti_store: Store) -> None:
    SHOTS.mkdir(exist_ok=True)  # noqa: ASYNC240 (a test's screenshot folder)
    async with desk_with_offers(cti_store) as (desk, offers), chromium() as browser:
        page = await (await browser.new_context(locale="zh-CN", viewport={
            "width": 1366, "height": 768})).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await log_in(page, desk.base, "8001")
        async with page.expect_response("**/api/agent/login"):
            await page.click("#btn-login")
        desk.feed_until("Newchannel", including=False)  # 8001 is in aftersales, free
        await page.wait_for_selector("#state-badge.state.available")
        now = datetime.now(UTC)
        await book(cti_store, offers, now)
        [offer] = await offers.tick(now)
        assert offer.agent == "8001"
        await page.wait_for_selector("#qcb-panel:not([hidden])")
        panel = await page.text_content("#qcb-panel") or ""
        for text in ("排队回拨", "鑫源便利店", MERCHANT, "13800138000", "售后服务", "第 1/3 次"):
            assert text in panel, text
        # the merchant's full card in the screen pop, as for a ringing call
        await page.wait_for_selector("#pop-card .name:has-text('鑫源便利店')")
        card = await page.text_content("#pop-card") or ""
        for text in ("LA0000101", "RP20261120-0003", "维修人员迟到"):
            assert text in card, text
        assert "您刚才来电预约了回拨" in card  # greeted as the call-back it is
        await page.screenshot(path=str(SHOTS / "desk-qcb-offer-zh.png"))

        async with page.expect_response("**/accept") as accepted:
            await page.click("#qcb-accept")
        response = await accepted.value
        assert response.ok, await response.text()
        # the product dialled as click to dial does: the agent's phone, then the merchant
        [originate] = desk.ami.originates
        assert (originate["Exten"], originate["key"]) == ("13800138000",
                                                          f"queue-callback-{offer.callback_id}-1")
        assert originate["variables"]["CC_AGENT"] == "8001"
        await page.wait_for_selector("#qcb-reached")
        await page.screenshot(path=str(SHOTS / "desk-qcb-dialling-zh.png"))
        async with page.expect_response("**/outcome") as outcome:
            await page.click("#qcb-reached")
        assert (await outcome.value).ok
        await page.wait_for_selector("#qcb-panel:has-text('回拨结果已记录')")
        record = await offers.callbacks.store.get(offer.callback_id)
        assert record is not None and record.place is not None
        assert (record.state, record.result, record.place.state) == (
            CallbackState.DONE, "reached", PlaceState.DONE)
        assert errors == []


async def test_passing_the_offer_hides_it_and_the_english_desk_reads_english(
        cti_store: Store) -> None:
    async with desk_with_offers(cti_store) as (desk, offers), chromium() as browser:
        context = await browser.new_context(locale="en-US", viewport={
            "width": 1366, "height": 768})
        page = await context.new_page()
        await page.goto(desk.base + "/lang/en?next=/login")
        await log_in(page, desk.base, "8001")
        async with page.expect_response("**/api/agent/login"):
            await page.click("#btn-login")
        desk.feed_until("Newchannel", including=False)
        await page.wait_for_selector("#state-badge.state.available")
        now = datetime.now(UTC)
        await book(cti_store, offers, now)
        await offers.tick(now)
        await page.wait_for_selector("#qcb-panel:has-text('Call-back (caller kept their place)')")
        assert "Try 1 of 3" in (await page.text_content("#qcb-panel") or "")
        await page.screenshot(path=str(SHOTS / "desk-qcb-offer-en.png"))
        async with page.expect_response("**/decline"):
            await page.click("#qcb-decline")
        await page.wait_for_selector("#qcb-panel", state="hidden")
        assert desk.ami.originates == []
        [record] = await offers.callbacks.find()
        assert record.place is not None and record.place.state is PlaceState.WAITING
