"""Headless Chromium: a supervisor finds a call by merchant, plays it (real speech, stored as
sealed Ogg/Opus by the pipeline), seeks, scores it; the agent then sees the score and
acknowledges it. Screenshots at 1366×768 in /tmp/recordings.png and /tmp/qa-agent.png."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import insert

from callcenter.db.models import CallEventRow, MerchantRow
from callcenter.domain import Role
from callcenter.qa_directory import StoreQa
from callcenter.recording_directory import StorePipelineStore
from callcenter.service import add_user
from callcenter.settings import load_settings
from callcenter.web.app import build_web_app
from recording.pipeline import StoragePipeline
from recording.repository import RecordingRepository
from recording.sealed import Keyring
from recording.web import MODULE
from tests.page_scripts import VIOLATIONS, assert_strict_csp_held, enforce_strict_csp
from tests.recording.conftest import AGENT, CALLER, speak

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(os.environ.get("RECORDINGS_SCREENSHOT_DIR", "/tmp"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--autoplay-policy=no-user-gesture-required", "--disable-background-networking"]
STARTED = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
KEY = bytes(range(32))


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: the browser test needs Chromium")
    return CHROMIUM


@pytest.fixture
async def site(sqlite_store: Any, tmp_path: Path, speech: Path, chromium: Path
               ) -> AsyncIterator[str]:
    store = sqlite_store
    await add_user(store, STARTED, username="sup", display_name="王主管",
                   role=Role.SUPERVISOR, password="password-1")
    await add_user(store, STARTED, username="admin", display_name="管理员", role=Role.ADMIN,
                   password="password-1")
    await add_user(store, STARTED, username="8001", display_name="李娜", role=Role.AGENT,
                   password="password-1", agent_number="8001", interface="PJSIP/8001")
    # a long enough call: the caller and the agent speak twice
    long_call = tmp_path / "src" / "long.wav"
    speak(CALLER + AGENT + CALLER + AGENT, long_call)
    async with store.transaction() as s:
        merchant = (await s.execute(insert(MerchantRow).values(
            merchant_number="898310048160001", name="上海联华超市", address="a", district="d",
            contact_person="", business_hours="", tags=[], created_at=STARTED,
            updated_at=STARTED).returning(MerchantRow.id))).scalar_one()
        for kind, seconds in (("created", -20), ("ivr_result", -12), ("queued", -10),
                              ("agent_called", -4), ("connected", 0), ("ended", 19)):
            await s.execute(insert(CallEventRow).values(
                linked_id="1795330137.0", at=STARTED + timedelta(seconds=seconds), kind=kind,
                data={}))
    await store.calls.upsert("1795330137.0", STARTED, agent_number="8001",
                             queue="aftersales", caller_number="13812348000",
                             merchant_id=merchant, intent="repair")
    root = tmp_path / "rec"
    root.mkdir()
    shutil.copy(long_call, root / "1795330137.1.wav")
    repo = RecordingRepository(store)
    await repo.register("1795330137.0", "/var/spool/asterisk/monitor/1795330137.1.wav",
                        STARTED)
    await repo.finish("1795330137.0", STARTED + timedelta(seconds=20))
    keyring = Keyring({"k1": KEY}, "k1")
    assert await StoragePipeline(StorePipelineStore(store), root, keyring,
                                 lambda: STARTED + timedelta(minutes=1)).run_once() == 1
    draws = await StoreQa(store).draw(date(2026, 11, 21), ZoneInfo("Asia/Shanghai"),
                                      STARTED + timedelta(days=1), per_agent=20,
                                      min_seconds=0, reviewers=["sup"])
    assert len(draws) == 1
    settings = load_settings(environ={
        "CALLCENTER_RECORDING_DIR": str(root),
        "CALLCENTER_RECORDING_KEYS": "k1:" + base64.b64encode(KEY).decode()})
    app = build_web_app(settings, store, modules=[MODULE],
                        clock=lambda: (STARTED + timedelta(days=1)).timestamp())
    enforce_strict_csp(app)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def _login(page: Any, base: str, username: str, target: str) -> None:
    await page.goto(f"{base}/login?next={target}")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", "password-1")
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}{target}*")


async def test_supervisor_finds_plays_seeks_and_scores_then_the_agent_sees_it(
        site: str) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = await browser.new_context(locale="zh-CN",
                                                viewport={"width": 1366, "height": 768})
            await context.add_init_script(VIOLATIONS)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            audio_statuses: list[int] = []
            page.on("response", lambda r: audio_statuses.append(r.status)
                    if "/recordings/" in r.url and "/api/" not in r.url else None)

            await _login(page, site, "sup", "/recordings")
            await page.fill("input[name=merchant]", "联华")
            await page.click("#rc-filters button[type=submit]")
            row = page.locator("#rc-rows tr")
            await row.first.wait_for(timeout=10_000)
            assert await row.count() == 1
            text = await row.first.inner_text()
            assert "上海联华超市" in text and "13812348000" in text and "待评分" in text

            await page.click(".rc-play")
            await page.wait_for_function(
                "() => { const a = document.getElementById('rc-audio');"
                " return a.currentTime > 0.3 && !a.paused; }", timeout=15_000)
            duration = await page.evaluate("document.getElementById('rc-audio').duration")
            assert duration > 15
            box = await page.locator("#rc-wave").bounding_box()
            assert box is not None
            await page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
            at = await page.evaluate("document.getElementById('rc-audio').currentTime")
            assert at == pytest.approx(duration * 0.75, abs=1.0)
            await page.click("#rc-back")
            back = await page.evaluate("document.getElementById('rc-audio').currentTime")
            assert back == pytest.approx(at - 10, abs=1.0)
            await page.select_option("#rc-speed", "1.5")
            assert await page.evaluate(
                "document.getElementById('rc-audio').playbackRate") == 1.5
            assert 206 in audio_statuses  # the browser fetched ranges of the sealed file

            sheet = page.locator(".qa-sheet")
            await sheet.wait_for()
            for key in ("closing", "attitude", "wording", "knowledge"):
                await page.check(f"input[name=qa-{key}][value=pass]")
            await page.check("input[name=qa-greeting][value=fail]")
            await page.fill(".qa-comment[data-key=greeting]", "未报工号")
            await page.locator(".qa-pin").first.click()
            await page.fill(".qa-overall", "开头语不规范")
            await page.evaluate("window.scrollTo(0, 0)")
            await page.wait_for_timeout(300)
            await page.screenshot(path=str(SHOTS / "recordings.png"))
            await page.screenshot(path=str(SHOTS / "recordings-full.png"), full_page=True)
            await page.click("#qa-submit")
            await page.locator(".qa-review .qa-failed").wait_for(timeout=10_000)
            assert "本条不合格" in await page.locator(".qa-review").inner_text()
            await assert_strict_csp_held(page)

            agent = await (await browser.new_context(
                locale="zh-CN", viewport={"width": 1366, "height": 768})).new_page()
            agent.on("pageerror", lambda exc: errors.append(str(exc)))
            await _login(agent, site, "8001", "/qa")
            review = agent.locator(".qa-review")
            await review.wait_for(timeout=10_000)
            shown = await review.inner_text()
            assert "本条不合格" in shown and "未报工号" in shown and "开头语不规范" in shown
            await agent.click(".qa-ack")
            await agent.locator(".qa-review .tag").wait_for(timeout=10_000)
            assert "已确认" in await agent.locator(".qa-review").inner_text()
            await agent.screenshot(path=str(SHOTS / "qa-agent.png"))

            admin = await (await browser.new_context(
                locale="zh-CN", viewport={"width": 1366, "height": 768})).new_page()
            admin.on("pageerror", lambda exc: errors.append(str(exc)))
            await _login(admin, site, "admin", "/recordings")
            rows = admin.locator("#rc-audit-rows tr")
            await rows.first.wait_for(timeout=10_000)
            audit = await admin.locator("#rc-audit").inner_text()
            assert "sup (supervisor)" in audit and "播放" in audit and "1795330137.0" in audit
            assert errors == []
        finally:
            await browser.close()
