"""Headless Chromium: the pop card says where an overflowed caller waited first.

The call is the real capture of scenario 01 (queued in aftersales, answered by 8001), with
one header changed: the IVR's ``UserEvent CcIvrResult`` names ``presales``, so the
``QueueCallerJoin`` in ``aftersales`` is an overflow (cti/call_state.py rule 4), exactly what
the dialplan's overflow produces (tests/asterisk/test_real_asterisk.py, the overflow tests).
Screenshots at 1366x768: /tmp/shots-e/desk-overflow-zh.png, desk-overflow-en.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cti.ami_protocol import AmiMessage
from tests.cti import test_service
from tests.cti.test_desktop_browser import CHROMIUM, Desk, chromium, log_in, served_desk

template_db = test_service.template_db
cti_store = test_service.cti_store

SHOTS = Path("/tmp/shots-e")

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: the browser test needs Chromium")]


def sent_to_presales(desk: Desk) -> None:
    """The capture's CcIvrResult, with the IVR's queue presales instead of aftersales."""
    for i, (message, at) in enumerate(desk.stream):
        if message.name == "UserEvent" and message.get("UserEvent") == "CcIvrResult":
            assert message.get("CcQueue") == "aftersales"
            desk.stream[i] = (AmiMessage(message.text.replace(
                "CcQueue: aftersales", "CcQueue: presales")), at)
            return
    raise AssertionError("no CcIvrResult in the capture")


@pytest.mark.parametrize(("locale", "lang", "text"), [
    ("zh-CN", "zh", "溢出自 售前咨询"), ("en-US", "en", "Overflowed from Pre-sales")])
async def test_the_pop_of_an_overflowed_caller_names_the_queue_it_came_from(
        cti_store: object, locale: str, lang: str, text: str) -> None:
    async with served_desk(cti_store) as desk:  # type: ignore[arg-type]
        sent_to_presales(desk)
        SHOTS.mkdir(exist_ok=True)  # noqa: ASYNC240 (a test's screenshot folder)
        async with chromium() as browser:
            context = await browser.new_context(locale=locale, viewport={
                "width": 1366, "height": 768})
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            if lang == "en":
                await page.goto(desk.base + "/lang/en?next=/login")
            await log_in(page, desk.base, "8001")
            async with page.expect_response("**/api/agent/login"):
                await page.click("#btn-login")
            desk.feed_until("AgentCalled")
            await desk.service.settle()
            await page.wait_for_selector("#pop-card .name:has-text('鑫源便利店')")
            badge = page.locator("#pop-card .overflow")
            assert await badge.text_content() == text
            # the queue the call is in now is still shown as the queue
            head = await page.text_content("#pop-card .pop-head") or ""
            assert ("售后服务" if lang == "zh" else "After-sales") in head
            await page.screenshot(path=str(SHOTS / f"desk-overflow-{lang}.png"))
            assert errors == []


async def test_a_caller_who_did_not_overflow_has_no_overflow_badge(cti_store: object) -> None:
    async with served_desk(cti_store) as desk, chromium() as browser:  # type: ignore[arg-type]
        page = await (await browser.new_context(locale="zh-CN", viewport={
            "width": 1366, "height": 768})).new_page()
        await log_in(page, desk.base, "8001")
        async with page.expect_response("**/api/agent/login"):
            await page.click("#btn-login")
        desk.feed_until("AgentCalled")
        await desk.service.settle()
        await page.wait_for_selector("#pop-card .name:has-text('鑫源便利店')")
        assert await page.locator("#pop-card .overflow").count() == 0
