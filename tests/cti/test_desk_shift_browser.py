"""Headless Chromium on the agent desk at a laptop's 1366x768, over a whole shift (issue 13):
a ring plays a tone (the page counts it), after the hang-up the wrap-up form and its Save
button are on the screen without scrolling, the agent is held in after-call work, the wrap-up
of a later call never replaces a half-typed one (it waits in the list of unsaved wrap-ups),
and saving releases the hold. No raw call id or IVR path is shown.

Screenshots: /tmp/desk-1366-ringing.png, /tmp/desk-1366-wrapup.png, /tmp/desk-1366-unsaved.png.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from callcenter.db.repositories import Store
from cti.agent_state import AgentConfig
from tests.cti import test_service
from tests.cti.test_desktop_browser import CHROMIUM, Desk, chromium, log_in, served_desk

template_db = test_service.template_db
cti_store = test_service.cti_store

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: the browser test needs Chromium")]

LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture
async def held_desk(cti_store: Store) -> AsyncIterator[Desk]:
    async with served_desk(cti_store, AgentConfig(wrap_up_s=5.0, hold_wrap_up_s=300.0)) as desk:
        yield desk


async def in_view(page: object, selector: str) -> bool:
    box = await page.locator(selector).bounding_box()  # type: ignore[attr-defined]
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= LAPTOP["height"]


async def test_a_laptop_desk_holds_the_wrap_up_and_never_drops_a_half_typed_one(
        held_desk: Desk) -> None:
    desk = held_desk
    async with chromium() as browser:
        context = await browser.new_context(locale="zh-CN", viewport=LAPTOP)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await log_in(page, desk.base, "8001")
        async with page.expect_response("**/api/agent/login") as login:
            await page.click("#btn-login")
        assert (await login.value).ok
        desk.feed_until("Newchannel", including=False)
        await page.wait_for_selector("#state-badge.state.available")

        desk.feed_until("AgentCalled")
        await page.wait_for_selector("#state-badge.state.ringing")
        await desk.service.settle()
        await page.wait_for_selector("#desk[data-rang='1']")  # the ring tone played once
        await page.wait_for_selector("#pop-card .name:has-text('鑫源便利店')")
        assert await page.is_hidden("#desk-msg")  # no error on the way
        # the dial field follows the pop: this merchant's number
        assert await page.input_value("#dial-number") != ""
        await page.screenshot(path="/tmp/desk-1366-ringing.png")

        desk.feed_until("BridgeEnter")
        await page.wait_for_selector("#state-badge.state.on_call")
        while desk.position < len(desk.stream):
            desk.feed_until("Hangup")
        await desk.service.settle()
        await page.wait_for_selector("#wrapup:not([hidden])")
        await page.wait_for_selector("#state-badge.state.wrap_up")
        await page.wait_for_selector("#held-note:not([hidden])")
        assert ("QueuePause", {"Interface": "Local/8001@agents/n", "Paused": "true",
                               "Reason": "acw"}) in desk.ami.sent
        # at 1366x768 the form and its Save button are on the screen, nothing scrolled
        assert await page.evaluate("window.scrollY") == 0
        assert await in_view(page, "#wrapup-form select[name=disposition]")
        assert await in_view(page, "#wrapup-form textarea[name=description]")
        assert await in_view(page, "#wrapup-form button[type=submit]")
        shown = await page.text_content("#desk") or ""
        assert "1795330137.0" not in shown  # a call is named by its time, not its id
        await page.screenshot(path="/tmp/desk-1366-wrapup.png")

        # Half-typed ... and the wrap-up of another call arrives: the form is not replaced.
        await page.fill("#wrapup-form textarea[name=description]", "刷卡无反应")
        desk.service.desks.wrapup_due("8001", "1795330200.7")
        desk.service.hub.publish("agent:8001", {"type": "wrapup", "linked_id": "1795330200.7"})
        await page.wait_for_selector("#unsaved-panel:not([hidden])")
        assert await page.input_value("#wrapup-form textarea[name=description]") == "刷卡无反应"
        assert await page.locator("#unsaved-list li").count() == 1
        await page.screenshot(path="/tmp/desk-1366-unsaved.png")

        # Save: the hold ends (QueuePause Paused: false) and the agent is available again.
        await page.fill("#wrapup-form input[name=terminal_serial]", "LA0000101")
        await page.fill("#wrapup-form input[name=product_model]", "LANDI A8")
        await page.click("#wrapup-form button[type=submit]")
        await page.wait_for_selector("#wrapup-dup:not([hidden])")
        await page.click("#wrapup-dup li button")
        await page.wait_for_selector("#wrapup-result:has-text('RP20261120-0003')")
        await page.wait_for_selector("#state-badge.state.available")
        assert desk.ami.sent[-1] == ("QueuePause", {"Interface": "Local/8001@agents/n",
                                                    "Paused": "false"})
        assert errors == []
