"""Headless Chromium on the wallboard (1366x768): a supervisor watches a real captured call
(scenario 07) wait in the queue, get answered and end without reloading the page, starts a
listen from the agent's row, switches it to whisper in place (the spy's ChanSpy gets the
digit; the phone does not ring again), sees it end when the capture's supervisor hangs up
(ChanSpyStop) and finds all of it in the monitoring audit. Then the wall-TV view and the
English page. Standing alerts: a class-2 complaint recorded while the page is open is pushed
at once, shows its two clocks ticking down, and is still there on a fresh page load; a speech
alert (the worker's message) is shown the moment it is pushed.

Screenshots: /tmp/wallboard-alerts.png, /tmp/wallboard-alerts-en.png, /tmp/wallboard-waiting.png, /tmp/wallboard-oncall.png, /tmp/wallboard-spy-ended.png,
/tmp/wallboard-ended.png, /tmp/wallboard-tv.png, /tmp/wallboard-en.png.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer

from callcenter.business.service import BusinessService
from callcenter.business.wrapup import WrapupForm
from callcenter.cti_directory import StoreCtiDirectory
from callcenter.db.repositories import Store
from callcenter.domain import Role
from callcenter.settings import load_settings
from callcenter.speech_directory import SqlTranscriptStore
from callcenter.supervision_store import StoreDayCalls, StoreStandingAlerts
from callcenter.topics import WALLBOARD_TOPIC
from callcenter.web.app import build_web_app
from callcenter.web.hub import Hub
from cti.ami_protocol import AmiMessage
from cti.service import CtiService
from cti.web import web_module as cti_module
from recording.repository import RecordingRepository
from speech.keywords import KeywordHit, alert_message
from supervision.monitoring import Monitoring
from supervision.service import SupervisionService
from supervision.web import web_module
from tests.business.conftest import add_call
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
# The capture's first spy channel (its ChanSpyStart/ChanSpyStop name it): our Originate's
# OriginateResponse names the same one.
SPY_LEG = ("1795330364.4", "Local/9000@supervisor-00000002;1")

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
    store: Store
    hub: Hub
    merchant_id: int
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
    merchant_id = await seed(cti_store)
    now = datetime.fromtimestamp(BASE, UTC)
    boss = await cti_store.users.add("boss", "王班长", Role.SUPERVISOR, password_hash(), now)
    await cti_store.agents.add("9000", "王班长", "PJSIP/9000", [], boss.id)
    hub = Hub()
    ami = FakeAmiActions(spy_leg=SPY_LEG)
    clock = [BASE]
    service = CtiService(StoreCtiDirectory(cti_store), hub, clock=lambda: clock[0])
    service.attach(ami)
    await service.start()
    supervision = SupervisionService(service, StoreDayCalls(cti_store), hub,
                                     clock=lambda: clock[0], push_delay_s=0.05,
                                     standing=StoreStandingAlerts(cti_store))
    hub.observe(supervision.on_published)
    supervision.monitoring = Monitoring(service, cti_store.audit, clock=lambda: clock[0],
                                        hub=hub)
    await supervision.start()
    settings = load_settings(environ={"CALLCENTER_WEB_SESSION_SECRET": "browser-secret"})
    app = build_web_app(settings, cti_store, hub=hub,
                        modules=[cti_module(service), web_module(supervision)])
    enforce_strict_csp(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Board(str(server.make_url("")).rstrip("/"), service, supervision, ami,
                    events(SCENARIO), clock, cti_store, hub, merchant_id)
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
        assert headers["Data"] == "Local/8001@agents-00000001;2,qdE"  # not the ;1 Local half
        await page.wait_for_selector("#wb-monitor:not([hidden])")
        await page.wait_for_selector("#wb-audit td:has-text('monitor.start')")

        # Whisper: the same spy switches in place (ChanSpy's d option, digit 5).
        async with page.expect_response("**/api/supervisor/monitor") as switched:
            await page.click("tr[data-agent='8001'] button[data-monitor='whisper']")
        assert (await switched.value).ok
        assert [a for a, _h in board.ami.sent].count("Originate") == 1
        [dtmf] = [h for a, h in board.ami.sent if a == "PlayDTMF"]
        assert dtmf == {"Channel": SPY_LEG[1], "Digit": "5", "Receive": "true"}
        await page.wait_for_selector("tr[data-agent='8001'] button.primary[data-monitor='whisper']")
        await page.screenshot(path=f"{SHOTS}/wallboard-oncall.png")

        # The capture's supervisor hangs up: ChanSpyStop ends the session on the console.
        board.feed_until("ChanSpyStop")
        await page.wait_for_selector("#wb-monitor[data-state='ended']")
        assert "8001" in (await page.text_content("#wb-monitor") or "")
        assert await page.locator("tr[data-agent='8001'] button[data-monitor='stop']").count() == 0
        await page.wait_for_selector("#wb-audit td:has-text('monitor.stop')")
        await page.screenshot(path=f"{SHOTS}/wallboard-spy-ended.png")
        monitoring = board.supervision.monitoring
        assert monitoring is not None
        trail = [(e.action, e.details.get("mode"), e.details.get("reason"))
                 for e in reversed(await monitoring.audit.recent(limit=10))
                 if e.action.startswith("monitor.")]
        assert trail == [("monitor.start", "listen", None), ("monitor.mode", "whisper", None),
                         ("monitor.stop", "whisper", "hung_up")]

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


async def test_standing_alerts_are_pushed_and_still_there_on_a_fresh_page(board: Board
                                                                         ) -> None:
    async with chromium() as browser:
        context = await browser.new_context(locale="zh-CN", viewport=VIEW)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await log_in(page, board.base)
        assert await page.locator("#wb-alerts li[data-alert='complaint']").count() == 0

        # A class-2 complaint is recorded while the page is open: pushed, with its clocks.
        now = datetime.fromtimestamp(board.clock[0], UTC)
        business = BusinessService(board.store, board.hub, tz=ZoneInfo("Asia/Shanghai"),
                                   external=False)
        await add_call(board.store, "c2", merchant_id=board.merchant_id, intent="complaint",
                       started_at=now)
        await business.record_wrapup("c2", WrapupForm(
            disposition="complaint_2", description="多扣手续费"), agent_number="8001",
            now=now)
        clocks = "#wb-alerts li[data-alert='complaint'] .wb-clock"
        await page.wait_for_selector(clocks)
        assert await page.locator(clocks).count() == 2  # report 30 min, solution 1 h
        due = page.locator(f"{clocks}[data-clock='report_supervisor'] b")
        first = await due.text_content()
        assert first is not None and first.startswith("剩余")
        await page.wait_for_function(
            "(before) => document.querySelector("
            "\"#wb-alerts .wb-clock[data-clock='report_supervisor'] b\").textContent"
            " !== before", arg=first)  # ticks down

        # Keywords heard in a fresh recording: stored and pushed as the transcription worker
        # does after a transcript (the model itself runs in test_speech_alerts.py).
        recordings = RecordingRepository(board.store)
        await recordings.register("c2", "/var/spool/asterisk/monitor/c2.wav", now)
        await recordings.finish("c2", now + timedelta(seconds=40))
        transcripts = SqlTranscriptStore(board.store)
        await transcripts.enqueue_finished(now)
        job = await transcripts.claim(now)
        assert job is not None
        hits = [KeywordHit("投诉", "caller", 3.2)]
        await transcripts.add_alert(job, ["投诉"], hits, now)
        board.hub.publish(WALLBOARD_TOPIC, alert_message(job.linked_id, job.recording_token,
                                                         hits))
        await page.wait_for_selector("#wb-alerts li[data-alert='speech']:has-text('投诉') a")
        await page.screenshot(path=f"{SHOTS}/wallboard-alerts.png")

        # A supervisor who opens the wallboard now sees the complaint too.
        fresh = await context.new_page()
        fresh.on("pageerror", lambda exc: errors.append(str(exc)))
        await fresh.goto(board.base + "/wallboard")
        await fresh.wait_for_selector(clocks)
        await fresh.wait_for_selector("#wb-alerts li[data-alert='speech'] a")
        assert "多扣" not in (await fresh.text_content("#wb-alerts") or "")  # no free text
        await fresh.goto(board.base + "/lang/en?next=/wallboard")
        await fresh.wait_for_selector(f"{clocks}:has-text('left')")
        await fresh.screenshot(path=f"{SHOTS}/wallboard-alerts-en.png")
        assert errors == []
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
