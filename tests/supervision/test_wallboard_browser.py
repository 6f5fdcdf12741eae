"""Headless Chromium on the wallboard (1366x768): a supervisor watches a real captured call
(scenario 07) wait in the queue, get answered and end without reloading the page, starts a
listen from the agent's row and sees it in the monitoring audit. Then the wall-TV view and
the English page.

Screenshots: /tmp/wallboard-waiting.png, /tmp/wallboard-oncall.png, /tmp/wallboard-ended.png,
/tmp/wallboard-tv.png, /tmp/wallboard-en.png.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from callcenter.cti_directory import StoreCtiDirectory
from callcenter.db.repositories import Store
from callcenter.domain import Role
from callcenter.settings import load_settings
from callcenter.supervision_store import StoreDayCalls
from callcenter.web.app import build_web_app
from callcenter.web.hub import Hub
from cti.ami_protocol import AmiMessage
from cti.service import CtiService
from cti.web import web_module as cti_module
from supervision.monitoring import Monitoring
from supervision.service import SupervisionService
from supervision.web import web_module
from tests.cti import test_service
from tests.cti.test_desktop_browser import CHROMIUM, chromium, events
from tests.cti.test_service import BASE, PASSWORD, password_hash, seed
from tests.fakes.ami_actions import FakeAmiActions
from tests.page_scripts import enforce_strict_csp

template_db = test_service.template_db
cti_store = test_service.cti_store

SCENARIO = "07-supervisor-spy.ami"
SHOTS = "/tmp"
VIEW = {"width": 1366, "height": 768}

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: the browser test needs Chromium")]


@dataclass
class Board:
    base: str
    service: CtiService
    supervision: SupervisionService
    ami: FakeAmiActions
    stream: list[tuple[AmiMessage, float]]
    clock: list[float]
    position: int = 0

    def feed_until(self, name: str) -> None:
        while self.position < len(self.stream):
            message, at = self.stream[self.position]
            self.clock[0] = at
            self.service.on_message(message, at)
            self.position += 1
            if message.name == name:
                return

    def feed_all(self) -> None:
        self.feed_until("\0")


@pytest.fixture
async def board(cti_store: Store) -> AsyncIterator[Board]:
    await seed(cti_store)
    now = datetime.fromtimestamp(BASE, UTC)
    boss = await cti_store.users.add("boss", "王班长", Role.SUPERVISOR, password_hash(), now)
    await cti_store.agents.add("9000", "王班长", "PJSIP/9000", [], boss.id)
    hub = Hub()
    ami = FakeAmiActions()
    clock = [BASE]
    service = CtiService(StoreCtiDirectory(cti_store), hub, clock=lambda: clock[0])
    service.attach(ami)
    await service.start()
    supervision = SupervisionService(service, StoreDayCalls(cti_store), hub,
                                     clock=lambda: clock[0], push_delay_s=0.05)
    supervision.monitoring = Monitoring(service, cti_store.audit, clock=lambda: clock[0])
    await supervision.start()
    settings = load_settings(environ={"CALLCENTER_WEB_SESSION_SECRET": "browser-secret"})
    app = build_web_app(settings, cti_store, hub=hub,
                        modules=[cti_module(service), web_module(supervision)])
    enforce_strict_csp(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Board(str(server.make_url("")).rstrip("/"), service, supervision, ami,
                    events(SCENARIO), clock)
    finally:
        await server.close()
        await supervision.stop()
        await service.stop()


async def log_in(page: Any, base: str) -> None:
    await page.goto(base + "/login")
    await page.fill("input[name=username]", "boss")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    await page.goto(base + "/wallboard")
    await page.wait_for_selector("#wb-live.ok", timeout=10_000)


async def test_supervisor_watches_a_call_wait_answer_and_end_and_listens_in(board: Board
                                                                          ) -> None:
    async with chromium() as browser:
        context = await browser.new_context(locale="zh-CN", viewport=VIEW)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await log_in(page, board.base)
        loads = []
        page.on("load", lambda _page: loads.append(1))

        board.feed_until("QueueCallerJoin")
        await page.wait_for_selector("tr[data-queue='aftersales'] td[data-field='waiting']"
                                     ":has-text('1')")
        await page.screenshot(path=f"{SHOTS}/wallboard-waiting.png")

        board.feed_until("AgentConnect")
        await page.wait_for_selector("tr[data-agent='8001'][data-state='on_call']")
        waiting = page.locator("tr[data-queue='aftersales'] td[data-field='waiting']")
        assert await waiting.text_content() == "0"
        assert "13800138000" in (await page.text_content(
            "tr[data-agent='8001'] td[data-field='call']") or "")

        async with page.expect_response("**/api/supervisor/monitor") as started:
            await page.click("tr[data-agent='8001'] button[data-monitor='listen']")
        assert (await started.value).ok
        [(_action, headers)] = [s for s in board.ami.sent if s[0] == "Originate"]
        assert headers["Channel"] == "Local/9000@supervisor"
        assert headers["Application"] == "ChanSpy"
        assert headers["Data"] == "Local/8001@agents-00000001;2,qE"  # not the ;1 Local half
        await page.wait_for_selector("#wb-monitor:not([hidden])")
        await page.wait_for_selector("#wb-audit td:has-text('monitor.start')")
        await page.screenshot(path=f"{SHOTS}/wallboard-oncall.png")

        # Force pause (remembered until the call is over): the desk's one QueuePause, audited.
        await page.select_option("select[data-reason-for='8001']", "meeting")
        async with page.expect_response("**/api/supervisor/agents/8001/pause") as paused:
            await page.click("tr[data-agent='8001'] button[data-control='pause']")
        assert (await paused.value).ok
        pauses = [h for a, h in board.ami.sent if a == "QueuePause"]
        assert pauses == [{"Interface": "Local/8001@agents/n", "Paused": "true",
                           "Reason": "meeting"}]
        await page.wait_for_selector("#wb-audit td:has-text('agent.force_pause')")

        board.feed_all()
        await page.wait_for_selector("tr[data-queue='aftersales'] td[data-field='answered']"
                                     ":has-text('1')")
        assert await page.text_content(
            "tr[data-queue='aftersales'] td[data-field='offered']") == "1"
        await page.wait_for_selector("tr[data-agent='8001'] td[data-field='calls_today']"
                                     ":has-text('1')")
        await page.screenshot(path=f"{SHOTS}/wallboard-ended.png")
        assert loads == [], "the page reloaded"
        assert errors == []

        await page.goto(board.base + "/wallboard?view=tv")
        await page.wait_for_selector("#wb.wb-tv #wb-live.ok")
        await page.screenshot(path=f"{SHOTS}/wallboard-tv.png")
        await page.goto(board.base + "/lang/en?next=/wallboard")
        await page.wait_for_selector("#wb-live.ok")
        assert "Wallboard" in (await page.text_content("h1") or "")
        await page.screenshot(path=f"{SHOTS}/wallboard-en.png")
        await context.close()


async def test_a_caller_who_booked_a_call_back_shows_as_one_neither_offered_nor_abandoned(
        board: Board) -> None:
    """Scenario 12 (key 1 in the queue, call-back booked): the wallboard's 预约回拨 column
    counts the call, offered and abandoned stay 0 and the answer rate has no data (docs/kpi.md
    R11). Screenshot: /tmp/shots-g/wallboard-callback.png."""
    board.stream = [(m, at + 600) for m, at in events("12-queue-callback.ami")]
    async with chromium() as browser:
        context = await browser.new_context(locale="zh-CN", viewport=VIEW)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await log_in(page, board.base)
        board.feed_until("QueueCallerJoin")
        row = "tr[data-queue='aftersales']"
        await page.wait_for_selector(f"{row} td[data-field='waiting']:has-text('1')")
        board.feed_all()
        await page.wait_for_selector(f"{row} td[data-field='callback_requested']:has-text('1')")
        assert [await page.text_content(f"{row} td[data-field='{f}']") for f in (
            "waiting", "offered", "abandoned", "answer_rate")] == ["0", "0", "0", "—"]
        assert "预约回拨" in (await page.text_content("table.wb-queues thead") or "")
        await page.screenshot(path="/tmp/shots-g/wallboard-callback.png")
        assert errors == []
