"""Headless Chromium: an agent works a planned 回访 from the desk to the team lead's review.

The team lead's plan (the department's CSV) gives agent 8001 a service callback for the
fixtures' merchant. On the desk (logged in, free: scenario 01's capture up to the log-in),
"我的回访" lists it; opening it puts the merchant's card and service history (terminals, the
open repair, the last calls, the complaint) in the screen pop, and only then 呼叫 is enabled;
呼叫 is click to dial (the fake AMI records the Originate from the agent's phone to the
merchant's first phone); the agent fills 《服务质量电话回访表》 on the desk and saves it; the
team lead finds it under 已完成 on /callbacks and reviews it. Then the desk in English.

Screenshots at 1366x768: /tmp/shots-i/desk-callback-history-zh.png,
desk-callback-form-zh.png, callbacks-reviewed-zh.png, desk-callback-en.png.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from callcenter.callbacks.offers import QueueCallbackOffers
from callcenter.callbacks.rules import CallbackState
from callcenter.db.repositories import Store
from callcenter.domain import Role
from tests.callbacks.test_desk_offer_browser import desk_with_offers
from tests.cti import test_service
from tests.cti.test_desktop_browser import CHROMIUM, chromium, log_in
from tests.cti.test_service import NOW, PASSWORD, password_hash

template_db = test_service.template_db
cti_store = test_service.cti_store

SHOTS = Path("/tmp/shots-i")
MERCHANT = "123456789012345"
PHONE = "13800138000"

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: the browser test needs Chromium")]


async def plan_for_8001(store: Store, offers: QueueCallbackOffers) -> int:
    """The team lead's upload for today, the callback given to 8001; returns its id."""
    now = datetime.now(UTC)
    service = offers.callbacks
    day = now.astimezone(service.tz).date()
    result = await service.upload(f"{MERCHANT},service,维修后满意度回访\n", day, now)
    assert result.planned == 1
    [record] = await service.find(state=CallbackState.PLANNED)
    await service.store.assign({record.id: ("8001", day)}, now)
    return record.id


async def free_at_the_desk(page: Any, desk: Any) -> None:
    await log_in(page, desk.base, "8001")
    async with page.expect_response("**/api/agent/login"):
        await page.click("#btn-login")
    desk.feed_until("Newchannel", including=False)  # 8001 is in aftersales, free
    await page.wait_for_selector("#state-badge.state.available")


async def test_agent_reads_the_history_dials_and_files_the_form_then_the_lead_reviews_it(
        cti_store: Store) -> None:
    SHOTS.mkdir(exist_ok=True)  # noqa: ASYNC240 (a test's screenshot folder)
    async with desk_with_offers(cti_store) as (desk, offers), chromium() as browser:
        await cti_store.users.add("lead", "班组长", Role.TEAM_LEAD, password_hash(), NOW)
        callback_id = await plan_for_8001(cti_store, offers)
        page = await (await browser.new_context(locale="zh-CN", viewport={
            "width": 1366, "height": 768})).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await free_at_the_desk(page, desk)

        await page.wait_for_selector("#mycb-list li:has-text('鑫源便利店')")
        item = await page.text_content("#mycb-list") or ""
        assert "计划" in item and "服务回访" in item
        assert await page.is_hidden("#mycb-work")

        async with page.expect_response(f"**/api/callbacks/{callback_id}/open") as opened:
            await page.click(f".mycb-open[data-id='{callback_id}']")
        assert (await opened.value).ok, await (await opened.value).text()
        # the merchant's recent service history in the screen pop, then 呼叫 is enabled
        await page.wait_for_selector("#pop-card .name:has-text('鑫源便利店')")
        await page.wait_for_selector("#mycb-dial:not([disabled])")
        card = await page.text_content("#pop-card") or ""
        for text in ("LA0000101", "RP20261120-0003", "维修人员迟到", "打印机不出纸"):
            assert text in card, text
        # an outbound 回访: the agent states identity and purpose, not the inbound greeting
        assert "今天给您做服务回访" in card and "请问有什么可以帮您的" not in card
        assert await page.text_content("#mycb-number") == PHONE
        assert desk.ami.originates == []  # reading the history dials nobody
        await page.screenshot(path=str(SHOTS / "desk-callback-history-zh.png"))

        async with page.expect_response("**/api/agent/dial") as dialled:
            await page.click("#mycb-dial")
        assert (await dialled.value).ok, await (await dialled.value).text()
        [originate] = desk.ami.originates  # the agent's phone first, then the merchant
        assert originate["Exten"] == PHONE
        assert originate["variables"]["CC_AGENT"] == "8001"
        assert originate["key"].startswith(f"callback-{callback_id}-1-")

        form = page.locator("#mycb-work #cb-form")
        for name in ("identity_stated", "purpose_stated", "accepted"):
            await form.locator(f"input[name={name}]").check()
        await form.locator("input[name=satisfaction]").fill("5")
        await form.locator("input[name=attitude]").fill("4")
        await form.locator("select[name=solved]").select_option("yes")
        await form.locator("input[name=comments]").fill("维修及时，满意")
        await form.locator("select[name=outcome]").select_option("completed")
        await page.screenshot(path=str(SHOTS / "desk-callback-form-zh.png"))
        async with page.expect_response(f"**/api/callbacks/{callback_id}/form") as saved:
            await form.locator("button[type=submit]").click()
        assert (await saved.value).ok, await (await saved.value).text()
        await page.wait_for_selector("#mycb-work", state="hidden")
        await page.wait_for_selector("#mycb-list li:has-text('没有回访')")
        record = await offers.callbacks.store.get(callback_id)
        assert record is not None
        assert (record.state, record.result, record.agent_number) == (
            CallbackState.DONE, "completed", "8001")
        assert record.answers["answers"]["comments"] == "维修及时，满意"
        assert record.reviewed_at is None
        assert errors == []

        lead = await (await browser.new_context(locale="zh-CN", viewport={
            "width": 1366, "height": 768})).new_page()
        await lead.goto(desk.base + "/login")
        await lead.fill("input[name=username]", "lead")
        await lead.fill("input[name=password]", PASSWORD)
        async with lead.expect_navigation():
            await lead.click("button[type=submit]")
        await lead.goto(desk.base + "/callbacks")
        await lead.click("#cb-states a[data-state=done]")
        row = lead.locator("#cb-list tbody tr", has_text="鑫源便利店")
        await row.wait_for()
        assert "完成" in (await row.text_content() or "")
        async with lead.expect_response(f"**/api/callbacks/{callback_id}/review") as reviewed:
            await row.locator("button").click()
        assert (await reviewed.value).ok
        await lead.wait_for_selector("#cb-list tbody tr:has-text('已审核')")
        await lead.screenshot(path=str(SHOTS / "callbacks-reviewed-zh.png"))
        record = await offers.callbacks.store.get(callback_id)
        assert record is not None and record.reviewed_by == "lead"
        assert record.state is CallbackState.DONE


async def test_the_english_desk_lists_my_callbacks_and_calls_after_the_history(
        cti_store: Store) -> None:
    SHOTS.mkdir(exist_ok=True)  # noqa: ASYNC240 (a test's screenshot folder)
    async with desk_with_offers(cti_store) as (desk, offers), chromium() as browser:
        callback_id = await plan_for_8001(cti_store, offers)
        page = await (await browser.new_context(locale="en-US", viewport={
            "width": 1366, "height": 768})).new_page()
        await page.goto(desk.base + "/lang/en?next=/login")
        await free_at_the_desk(page, desk)
        await page.wait_for_selector("#mycb-panel:has-text('My callbacks')")
        assert "Planned" in (await page.text_content("#mycb-list") or "")
        async with page.expect_response(f"**/api/callbacks/{callback_id}/open"):
            await page.click(f".mycb-open[data-id='{callback_id}']")
        await page.wait_for_selector("#mycb-dial:not([disabled])")
        note = await page.text_content("#mycb-note") or ""
        assert "service history" in note
        assert await page.text_content("#mycb-dial") == "Call"
        assert "Service-quality callback form" in (await page.text_content("#mycb-work") or "")
        await page.screenshot(path=str(SHOTS / "desk-callback-en.png"))
        assert desk.ami.originates == []
