"""Headless Chromium on the whole product's web app (every feature's pages, as ``serve``
builds it): an agent goes from their home page to /recordings and sees their own call only;
a supervisor reads the purge log there and filters it by day. Screenshots at 1366×768 in
``RECORDINGS_SCREENSHOT_DIR`` (default /tmp)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import insert

from callcenter.app import build_product
from callcenter.db.models import RecordingPurgeRow, RecordingRow
from callcenter.domain import Role
from callcenter.runtime import RunOptions
from callcenter.service import add_user
from callcenter.settings import load_settings
from tests.page_scripts import VIOLATIONS, assert_strict_csp_held, enforce_strict_csp
from tests.recording.test_browser import ARGS, CHROMIUM, SHOTS, _login

pytestmark = pytest.mark.browser

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def site(sqlite_url: str, tmp_path: Path) -> AsyncIterator[str]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: the browser test needs Chromium")
    settings = load_settings(environ={"CALLCENTER_DATABASE_URL": sqlite_url,
                                      "CALLCENTER_RECORDING_DIR": str(tmp_path)})
    product = await build_product(settings, RunOptions(fastagi=False, ami=False))
    try:
        store = product.runtime.store
        await add_user(store, NOW, username="sup", display_name="王主管",
                       role=Role.SUPERVISOR, password="password-1")
        for number, name in (("8001", "李娜"), ("8002", "张伟")):
            await add_user(store, NOW, username=number, display_name=name, role=Role.AGENT,
                           password="password-1", agent_number=number,
                           interface=f"PJSIP/{number}")
        async with store.transaction() as s:
            for n, agent in ((1, "8001"), (2, "8002")):
                started = NOW - timedelta(hours=n)
                await s.execute(insert(RecordingRow).values(
                    token=f"tok-{n}-" + "x" * 20, linked_id=f"179533013{n}.0",
                    path=f"179533013{n}.1.wav", started_at=started,
                    ended_at=started + timedelta(seconds=95), stage="stored",
                    stored_path=f"179533013{n}.1.ogg", codec="opus", duration_s=95.0,
                    agent_number=agent, queue="aftersales", caller_number="13812348000"))
            await s.execute(insert(RecordingPurgeRow).values(
                recording_token="gone-" + "x" * 20, linked_id="1700000001.0",
                stored_path="2024/11/1700000001.1.ogg.sealed", size_bytes=182_344,
                sha256="ab" * 32, started_at=NOW - timedelta(days=731), retain_until=None,
                reason="730 days after the call (default period)",
                purged_at=NOW - timedelta(days=2)))
        assert product.web is not None
        enforce_strict_csp(product.web.app)
        server = TestServer(product.web.app)
        await server.start_server()
        try:
            yield str(server.make_url("")).rstrip("/")
        finally:
            await server.close()
    finally:
        await product.stop()


async def test_an_agent_goes_from_home_to_their_recordings_and_a_supervisor_reads_the_purges(
        site: str) -> None:
    from playwright.async_api import async_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            errors: list[str] = []
            context = await browser.new_context(locale="zh-CN",
                                                viewport={"width": 1366, "height": 768})
            await context.add_init_script(VIOLATIONS)
            agent = await context.new_page()
            agent.on("pageerror", lambda exc: errors.append(str(exc)))
            await _login(agent, site, "8001", "/desk")  # an agent lands on the desk
            await agent.goto(f"{site}/")
            link = agent.locator('main a[href="/recordings"]')
            assert await link.inner_text() == "录音查询"
            assert await agent.locator('main a[href="/desk"]').count() == 1
            await agent.screenshot(path=str(SHOTS / "agent-home.png"))
            await link.click()
            await agent.wait_for_url(f"{site}/recordings")
            row = agent.locator("#rc-rows tr")
            await row.first.wait_for(timeout=10_000)
            assert await row.count() == 1  # 8002's call is not shown
            text = await row.first.inner_text()
            assert "8001" in text and "138****8000" in text  # the caller masked
            # no agent filter, no purge log, no access audit for an agent
            assert await agent.locator("input[name=agent]").count() == 0
            assert await agent.locator("#rc-purges").count() == 0
            assert await agent.locator("#rc-audit").count() == 0
            await agent.screenshot(path=str(SHOTS / "agent-recordings.png"))
            await assert_strict_csp_held(agent)

            sup = await (await browser.new_context(
                locale="zh-CN", viewport={"width": 1366, "height": 768})).new_page()
            sup.on("pageerror", lambda exc: errors.append(str(exc)))
            await _login(sup, site, "sup", "/recordings")
            purge = sup.locator("#rc-purge-rows tr")
            await purge.first.wait_for(timeout=10_000)
            text = await purge.first.inner_text()
            assert "1700000001.0" in text and "730 days" in text and "182344" in text
            await sup.locator("#rc-purges").scroll_into_view_if_needed()
            await sup.screenshot(path=str(SHOTS / "supervisor-purge-log.png"))
            await sup.fill("#rc-purge-since", (NOW + timedelta(days=1)).strftime("%Y-%m-%d"))
            await sup.click("#rc-purge-filter button[type=submit]")
            await sup.locator("#rc-purge-empty").wait_for(state="visible", timeout=10_000)
            assert await purge.count() == 0
            assert errors == []
        finally:
            await browser.close()
