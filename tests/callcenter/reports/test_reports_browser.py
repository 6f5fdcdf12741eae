"""Headless Chromium on /reports at 1366×768: a supervisor sees a day's charts and tables,
drills down from a queue to its agents to an agent's calls, under a strict CSP (no inline
script or style, nothing from another origin).

Screenshots: /tmp/reports-day.png, /tmp/reports-drill.png.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from callcenter.db.repositories import Store
from callcenter.domain import Role
from callcenter.reports import roster_web
from callcenter.reports.kpi import KpiPolicy, Targets
from callcenter.reports.roster import Roster, RosterRules, to_csv
from callcenter.reports.roster_service import RosterService
from callcenter.reports.service import ReportService
from callcenter.reports.web import web_module
from callcenter.reports_store import SqlReportStore
from callcenter.roster_store import SqlRosterStore
from callcenter.service import add_user
from callcenter.settings import load_settings
from callcenter.team_directory import SqlTeamDirectory
from callcenter.web.app import build_web_app
from tests.callcenter.reports.test_reports_store import TZ, call
from tests.page_scripts import VIOLATIONS, assert_strict_csp_held, enforce_strict_csp

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DAY = datetime(2027, 1, 3, 16, 0, tzinfo=UTC)  # 2027-01-04 00:00 local
SHOTS = Path("/tmp/shots-d")
# Eight agents on 7-8 hour shifts: four days on, one off, a start that moves through the day.
JANUARY = Roster(2027, 1, {
    str(8001 + a): [("O" if (d + a) % 5 == 4 else
                     ("0800+8", "0930+8", "1200+7", "1400+8", "2200+8")[(a + d // 5) % 5])
                    for d in range(31)] for a in range(8)})

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: the browser test needs Chromium")]


@pytest.fixture
async def base(sqlite_store: Store) -> AsyncIterator[str]:
    store = sqlite_store
    await add_user(store, DAY, username="sup", display_name="值班主管", role=Role.SUPERVISOR,
                   password="password-1")
    await add_user(store, DAY, username="lead", display_name="郑班长", role=Role.TEAM_LEAD,
                   password="password-1")
    teams = SqlTeamDirectory(store)
    await teams.set_team("lead", "一组")
    for number in range(8001, 8009):
        await add_user(store, DAY, username=str(number), display_name=str(number),
                       role=Role.AGENT, password="password-1", agent_number=str(number),
                       interface=f"PJSIP/{number}")
        await teams.set_team(str(number), "一组" if number <= 8004 else "二组")
    rosters = SqlRosterStore(store)
    await rosters.save_roster("2027-01", to_csv(JANUARY), "", "sup", DAY)
    rng = random.Random(7)
    n = 0
    for hour in range(24):
        volume = 2 if hour < 8 or hour >= 21 else (14 if 9 <= hour < 12 else 9)
        for _ in range(volume):
            n += 1
            at = DAY + timedelta(hours=hour, seconds=rng.uniform(0, 3500))
            answered = rng.random() < (0.82 if 9 <= hour < 12 else 0.95)
            await call(store, n, at, "answered" if answered else "abandoned",
                       wait=rng.expovariate(1 / 15), talk=rng.uniform(60, 300),
                       agent=f"80{rng.randint(1, 8):02d}",
                       queue=rng.choice(("aftersales", "aftersales", "presales")))
    policy = KpiPolicy()
    service = ReportService(SqlReportStore(store, policy=policy, tz=TZ), policy=policy,
                            targets=Targets(), tz=TZ)
    await service.refresh(DAY + timedelta(days=1, hours=1))
    app = build_web_app(load_settings(environ={}), store,
                        modules=[web_module(service, teams),
                                 roster_web.web_module(RosterService(rosters, RosterRules()),
                                                       teams)],
                        clock=lambda: (DAY + timedelta(days=1, hours=2)).timestamp())
    enforce_strict_csp(app)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def test_supervisor_reads_the_day_and_drills_down_to_an_agents_calls(base: str) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = await browser.new_context(locale="zh-CN",
                                                viewport={"width": 1366, "height": 768})
            await context.add_init_script(VIOLATIONS)
            page: Any = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(base + "/login?next=/reports%3Fperiod%3Dday%26date%3D2027-01-04")
            await page.fill("input[name=username]", "sup")
            await page.fill("input[name=password]", "password-1")
            await page.click("button[type=submit]")
            await page.wait_for_selector("svg.chart")
            assert await page.locator("svg.chart").count() == 2
            assert await page.locator("svg.chart rect >> nth=5").count() == 1
            # Nothing overflows the 1366-px window sideways.
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 1366
            await page.screenshot(path="/tmp/reports-day.png", full_page=True)

            await page.click("text=aftersales")
            await page.wait_for_url("**queue=aftersales")
            agent = page.locator("table.kpi >> nth=2").locator("a >> text=/^80/").first
            await agent.click()
            await page.wait_for_url("**agent=80*")
            assert await page.locator("h2", has_text="通话明细").count() == 1
            rows = await page.locator("table.kpi >> nth=3").locator("tbody tr").count()
            assert rows > 0
            await page.screenshot(path="/tmp/reports-drill.png", full_page=False)
            await assert_strict_csp_held(page)
            assert errors == []
        finally:
            await browser.close()


async def test_a_team_lead_sees_its_own_teams_reports_staffing_and_roster(base: str) -> None:
    from playwright.async_api import async_playwright

    await asyncio.to_thread(SHOTS.mkdir, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = await browser.new_context(locale="zh-CN",
                                                viewport={"width": 1366, "height": 768})
            await context.add_init_script(VIOLATIONS)
            page: Any = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(base + "/login?next=/reports%3Fperiod%3Dday%26date%3D2027-01-04")
            await page.fill("input[name=username]", "lead")
            await page.fill("input[name=password]", "password-1")
            await page.click("button[type=submit]")
            await page.wait_for_selector("svg.chart")
            assert await page.locator(".team-view").count() == 1
            agents = await page.locator("table.kpi >> nth=2").locator("tbody td a").all_inner_texts()
            assert agents and set(agents) <= {"8001", "8002", "8003", "8004"}
            assert await page.evaluate("document.documentElement.scrollWidth") <= 1366
            await page.screenshot(path=str(SHOTS / "team-reports.png"), full_page=False)

            await page.goto(base + "/staffing?date=2027-01-04")
            await page.wait_for_selector(".team-view")
            assert await page.evaluate("document.documentElement.scrollWidth") <= 1366
            await page.screenshot(path=str(SHOTS / "team-staffing.png"), full_page=False)

            await page.goto(base + "/roster?month=2027-01")
            await page.wait_for_selector("table.roster-grid")
            rows = await page.locator("table.roster-grid tbody tr td:first-child").all_inner_texts()
            assert rows == ["8001", "8002", "8003", "8004"]
            assert await page.locator("text=0930+8").count() > 0
            assert await page.evaluate("document.documentElement.scrollWidth") <= 1366
            await page.screenshot(path=str(SHOTS / "team-roster.png"), full_page=False)
            await assert_strict_csp_held(page)
            assert errors == []
        finally:
            await browser.close()
