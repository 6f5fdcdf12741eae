"""Headless Chromium on the agent desktop: an agent logs in with agent number and password,
signs in to the queues, a real captured call (scenario 01) rings, the pop card shows the
merchant, the call connects with the recording indicator on, and after the hang-up the
wrap-up form (the business API) saves a repair. Then the same desk in English.

Screenshots: /tmp/desk-zh-ringing.png, /tmp/desk-zh-oncall.png, /tmp/desk-zh-wrapup.png,
/tmp/desk-en.png.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer

from callcenter.business.board import web_module as business_module
from callcenter.business.service import BusinessService
from callcenter.cti_directory import StoreCtiDirectory
from callcenter.db.repositories import Store
from callcenter.settings import load_settings
from callcenter.web.app import WebModule, build_web_app
from callcenter.web.hub import Hub
from cti.agent_state import AgentConfig
from cti.ami_protocol import ActionTracker, AmiFramer, AmiMessage, MessageKind
from cti.service import CtiService
from cti.web import web_module
from tests.cti import test_service
from tests.cti.test_service import BASE, PASSWORD, chunks, seed, sent_actions
from tests.fakes.ami_actions import FakeAmiActions
from tests.page_scripts import VIOLATIONS, assert_strict_csp_held, enforce_strict_csp

template_db = test_service.template_db
cti_store = test_service.cti_store

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path("/tmp")  # screenshots for a person to look at
SCENARIO = "01-agent-login-and-answered-call.ami"

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: the browser test needs Chromium")]


def events(name: str) -> list[tuple[AmiMessage, float]]:
    """The capture's events (not replies or list items) with their receive times."""
    framer, tracker = AmiFramer(), ActionTracker()
    for action_id, action in sent_actions(name):
        tracker.register(action_id, action)
    out = []
    for chunk, t in chunks(name):
        for frame in framer.feed(chunk):
            if isinstance(frame, AmiMessage) and tracker.feed(frame) is frame \
                    and frame.kind is MessageKind.EVENT:
                out.append((frame, BASE + t))
    return out


@dataclass
class Desk:
    base: str
    service: CtiService
    ami: FakeAmiActions
    stream: list[tuple[AmiMessage, float]]
    clock: list[float]
    store: Store
    position: int = 0

    def feed_until(self, name: str, *, including: bool = True) -> None:
        """Feed the capture's events up to the first ``name`` (and it, if ``including``)."""
        while self.position < len(self.stream):
            message, at = self.stream[self.position]
            if message.name == name and not including:
                return
            self.clock[0] = at
            self.service.on_message(message, at)
            self.position += 1
            if message.name == name:
                return


@pytest.fixture
async def desk(cti_store: Store) -> AsyncIterator[Desk]:
    async with served_desk(cti_store) as served:
        yield served


@asynccontextmanager
async def served_desk(cti_store: Store, agent_config: AgentConfig | None = None, *,
                      extra_modules: Sequence[WebModule] = ()) -> AsyncIterator[Desk]:
    """The desk and the wrap-up API (and ``extra_modules``) on a loopback server; saved
    wrap-ups reach the CTI."""
    await seed(cti_store)
    hub = Hub()
    ami = FakeAmiActions()
    clock = [BASE]  # the service lives on the capture's clock (its wrap-up timer too)
    service = CtiService(StoreCtiDirectory(cti_store), hub, clock=lambda: clock[0],
                         agent_config=agent_config)
    service.attach(ami)
    await service.start()
    business = BusinessService(cti_store, hub, tz=ZoneInfo("Asia/Shanghai"), external=False)
    business.on_wrapped_up = service.wrapup_saved
    settings = load_settings(environ={"CALLCENTER_WEB_SESSION_SECRET": "browser-secret"})
    app = build_web_app(settings, cti_store, hub=hub,
                        modules=[web_module(service), business_module(business),
                                 *extra_modules])
    enforce_strict_csp(app)  # the desk works without inline script
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Desk(str(server.make_url("")).rstrip("/"), service, ami, events(SCENARIO), clock,
                   cti_store)
    finally:
        await server.close()
        await service.stop()


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """Headless Chromium (Debian's), closed afterwards."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def log_in(page: Any, base: str, number: str) -> None:
    await page.goto(base + "/login")
    await page.fill("input[name=username]", number)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(base + "/desk")
    await page.wait_for_selector("#desk[data-live='1']", timeout=10_000)


async def test_agent_sees_the_merchant_pop_then_wraps_the_call_up(desk: Desk) -> None:
    async with chromium() as browser:
        context = await browser.new_context(locale="zh-CN", viewport={
            "width": 1440, "height": 1000})
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await log_in(page, desk.base, "8001")
        assert await page.text_content("#state-badge") == "未签入"

        # 签入: the service sends QueueAdd; Asterisk's QueueMemberAdded makes it 空闲.
        async with page.expect_response("**/api/agent/login") as login:
            await page.click("#btn-login")
        assert (await login.value).ok
        # aftersales, presales and (derived, callcenter.shifts) night
        assert [a for a, _ in desk.ami.sent] == ["QueueAdd", "QueueAdd", "QueueAdd"]
        desk.feed_until("Newchannel", including=False)
        await page.wait_for_selector("#state-badge.state.available")

        # The call rings: the pop card shows the merchant.
        desk.feed_until("AgentCalled")
        await page.wait_for_selector("#state-badge.state.ringing")
        await desk.service.settle()
        await page.wait_for_selector("#pop-card .name:has-text('鑫源便利店')")
        card = await page.text_content("#pop-card")
        assert card is not None
        for text in ("123456789012345", "上海市浦东新区张杨路 100 号", "王伟", "09:00-21:00",
                     "高价值", "已验证", "报修", "LA0000101", "RP20261120-0003",
                     "维修人员迟到", "您好！工号8001为您服务。"):
            assert text in card, text
        await page.screenshot(path=str(SHOTS / "desk-zh-ringing.png"), full_page=True)

        # Answered: call timer and recording indicator.
        desk.feed_until("BridgeEnter")
        await page.wait_for_selector("#state-badge.state.on_call")
        await page.wait_for_selector("#rec.rec.on")
        assert not await page.is_disabled("#btn-hangup")
        await page.wait_for_function(  # the call timer runs (a function: the CSP forbids eval)
            "() => document.querySelector('#call-timer').textContent !== '00:00'")
        await page.screenshot(path=str(SHOTS / "desk-zh-oncall.png"), full_page=True)

        # The merchant hangs up: wrap-up, through the business API.
        desk.feed_until("Hangup")
        while desk.position < len(desk.stream):
            desk.feed_until("Hangup")
        await desk.service.settle()
        await page.wait_for_selector("#wrapup:not([hidden])")
        await page.wait_for_selector("#state-badge.state.wrap_up")
        assert await page.input_value("#wrapup-form select[name=disposition]") == "repair"
        await page.fill("#wrapup-form textarea[name=description]", "刷卡无反应，屏幕提示通讯失败")
        await page.fill("#wrapup-form input[name=terminal_serial]", "LA0000101")
        await page.fill("#wrapup-form input[name=product_model]", "LANDI A8")
        await page.click("#wrapup-form button[type=submit]")
        # The merchant's open repair of this terminal may be the same fault: the business
        # API says so, and the agent links the call to it instead of opening a second one.
        await page.wait_for_selector("#wrapup-dup:not([hidden])")
        await page.screenshot(path=str(SHOTS / "desk-zh-duplicate.png"), full_page=True)
        await page.click("#wrapup-dup li button")
        await page.wait_for_selector("#wrapup-result:has-text('RP20261120-0003')")
        await page.wait_for_selector("#today-calls:has-text('1')")
        await page.screenshot(path=str(SHOTS / "desk-zh-wrapup.png"), full_page=True)
        call = await desk.store.calls.get("1795330137.0")
        assert call is not None and call.disposition == "repair"
        assert "已关联工单" in (await page.text_content("#wrapup-result") or "")
        assert errors == []

        # The same desk in English (another agent, idle).
        en = await browser.new_context(locale="en-US", viewport={"width": 1440, "height": 900})
        english = await en.new_page()
        await english.goto(desk.base + "/lang/en?next=/login")
        await log_in(english, desk.base, "8002")
        assert await english.text_content("#state-badge") == "Available"
        assert "Agent desktop" in await english.title()
        await english.screenshot(path=str(SHOTS / "desk-en-idle.png"), full_page=True)
        # ... and 8001's desk reloaded in English keeps the card of its last call.
        await context.add_cookies([{"name": "cc_lang", "value": "en", "url": desk.base}])
        await page.reload()
        await page.wait_for_selector("#desk[data-live='1']")
        await page.wait_for_selector("#pop-card .name:has-text('鑫源便利店')")
        assert "Merchant number" in (await page.text_content("#pop-card") or "")
        await page.screenshot(path=str(SHOTS / "desk-en.png"), full_page=True)


# Installed before the desk's scripts: remembers every WebSocket the page opens and every
# "ping" sent, and which 25 s keep-alive intervals are running (the page's timers otherwise
# can't be listed). After each socket closes (and its handlers ran) it notes how many were left.
PROBE = """
(() => {
  const probe = { sockets: [], pings: [], timers: new Map(), offline: [] };
  const setInterval0 = window.setInterval.bind(window);
  const clearInterval0 = window.clearInterval.bind(window);
  window.setInterval = (fn, ms, ...rest) => {
    const id = setInterval0(fn, ms, ...rest);
    if (ms === 25000) probe.timers.set(id, fn);
    return id;
  };
  window.clearInterval = (id) => { probe.timers.delete(id); return clearInterval0(id); };
  const Socket = window.WebSocket;
  window.WebSocket = class extends Socket {
    constructor(...args) {
      super(...args);
      const n = probe.sockets.push(this) - 1;
      this.addEventListener("close", () => setTimeout(() => probe.offline.push(probe.timers.size)));
      this.n = n;
    }
    send(data) {
      if (data === "ping") probe.pings.push(this.n);
      return super.send(data);
    }
  };
  window.__probe = probe;
})();
"""


async def test_reconnecting_desk_keeps_one_ping_timer_under_a_strict_csp(desk: Desk) -> None:
    async with chromium() as browser:
        context = await browser.new_context(locale="zh-CN", viewport={
            "width": 1366, "height": 768})
        await context.add_init_script(PROBE + VIOLATIONS)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await log_in(page, desk.base, "8002")
        assert await page.evaluate("__probe.timers.size") == 1
        state = await page.text_content("#state-badge")

        drops = 4
        for n in range(1, drops + 1):
            await page.evaluate("__probe.sockets.at(-1).close()")
            await page.wait_for_function(
                "n => __probe.sockets.length === n + 1 && __probe.sockets.at(-1).readyState === 1"
                " && document.querySelector('#desk').dataset.live === '1'", arg=n, timeout=10_000)
        assert await page.text_content("#state-badge") == state == "未签入"
        # Offline after each drop: no ping timer left; live again: exactly one.
        assert await page.evaluate("__probe.offline") == [0] * drops
        assert await page.evaluate("__probe.timers.size") == 1
        # One interval's worth of keep-alive: one ping, on the live socket.
        await page.evaluate("for (const fn of __probe.timers.values()) fn()")
        assert await page.evaluate("__probe.pings") == [drops]
        await assert_strict_csp_held(page)
        assert await page.evaluate("typeof cc.el") == "function"  # common.js ran
        assert errors == []
