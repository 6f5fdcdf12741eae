"""Demo mode: calls answered by simulated agents get their wrap-up through the product's web
API, as the desk's browser saves it, so the board fills."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from callcenter.business.board import web_module
from callcenter.business.service import BusinessService
from callcenter.db.repositories import Store
from callcenter.settings import load_settings
from callcenter.web.app import build_web_app
from simulator.demo_agents import DemoWrapups
from simulator.pbx import CallRecord
from tests.business.conftest import NOW, PASSWORD, add_agent, add_call, seed
from tests.fakes.hub import RecordingHub


def ended(linked_id: str, agent: str, outcome: str = "answered") -> CallRecord:
    return CallRecord(ref=linked_id, unique_id=linked_id, linked_id=linked_id,
                      caller_num="02150551234", outcome=outcome, queues=("aftersales",),
                      agents=(f"PJSIP/{agent}",) if outcome == "answered" else (),
                      arrived_at=0.0, answered_at=1.0, ended_at=2.0, hold_time=1, talk_time=1,
                      recordings=())


class Product:
    """The product's web app with the business module on a real loopback port."""

    def __init__(self, store: Store) -> None:
        self.hub = RecordingHub()
        self.requests: list[tuple[str, str, str | None]] = []
        service = BusinessService(store, self.hub, tz=ZoneInfo("Asia/Shanghai"),
                                  external=False)
        settings = load_settings(environ={"CALLCENTER_WEB_SESSION_SECRET": "demo"})
        app = build_web_app(settings, store, modules=[web_module(service)], hub=self.hub)
        app.middlewares.append(self.remember)
        self.server = TestServer(app, host="127.0.0.1")

    @web.middleware
    async def remember(self, request: web.Request,
                       handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                       ) -> web.StreamResponse:
        self.requests.append((request.method, request.path, request.headers.get("Origin")))
        return await handler(request)

    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"


@pytest.fixture
async def product(sqlite_store: Store) -> AsyncIterator[Product]:
    running = Product(sqlite_store)
    await running.server.start_server()
    try:
        yield running
    finally:
        await running.server.close()


async def test_simulated_agents_wrap_up_their_calls_over_http_and_leave_humans_alone(
        sqlite_store: Any, product: Product) -> None:
    store = sqlite_store
    shop = (await seed(store)).shop
    await add_agent(store, "8001")
    await add_agent(store, "8013", username="8013")  # demo accounts: username = agent number
    before = NOW - timedelta(minutes=1)
    await add_call(store, "sim.1", merchant_id=shop.id, agent="8013", ended_at=before)
    await add_call(store, "sim.2", merchant_id=shop.id, agent="8013", ended_at=before,
                   intent="repair")
    await add_call(store, "human.1", merchant_id=shop.id, agent="8001", ended_at=before)
    bot = DemoWrapups(product.base, PASSWORD, frozenset({"8013"}))
    for record in (ended("sim.1", "8013"), ended("sim.2", "8013"), ended("human.1", "8001"),
                   ended("sim.lost", "8013", outcome="abandoned")):
        bot.call_ended(record)
    assert set(bot.pending) == {"sim.1", "sim.2"}
    try:
        assert await bot.run_once() == 2
    finally:
        await bot.stop()
    first, second = await store.calls.get("sim.1"), await store.calls.get("sim.2")
    # the second repair for the same terminal is not a duplicate task: it becomes a query
    assert {first.disposition, second.disposition} == {"repair", "consultation"}
    assert (await store.calls.get("human.1")).disposition is None
    assert [t.kind.value for t in await store.tasks.open_for_merchant(shop.id)] == ["repair"]
    assert product.hub.sent["board"], "the dispatcher board was told about the new repair"
    # as the desk's browser: a form log-in, then the JSON API with the app's own Origin
    assert product.requests[0][:2] == ("POST", "/login")
    posts = [r for r in product.requests if r[0] == "POST" and r[1].startswith("/api/")]
    assert posts and {origin for _, _, origin in posts} == {product.base()}
    assert not bot.pending and bot.saved == 2


async def test_simulated_agents_fill_complaint_forms_the_product_accepts(
        sqlite_store: Any, product: Product) -> None:
    store = sqlite_store
    shop = (await seed(store)).shop
    await add_agent(store, "8013", username="8013")
    await add_call(store, "sim.c", merchant_id=shop.id, agent="8013",
                   ended_at=NOW - timedelta(minutes=1), intent="complaint")
    bot = DemoWrapups(product.base, PASSWORD, frozenset({"8013"}))
    bot.call_ended(ended("sim.c", "8013"))
    try:
        assert await bot.run_once() == 1
    finally:
        await bot.stop()
    call = await store.calls.get("sim.c")
    assert call.disposition == "complaint_1"
    assert bot.pending == {}


async def test_a_call_the_product_has_not_written_yet_is_tried_again_then_given_up(
        sqlite_store: Any, product: Product) -> None:
    store = sqlite_store
    shop = (await seed(store)).shop
    await add_agent(store, "8013", username="8013")
    now = [0.0]
    bot = DemoWrapups(product.base, PASSWORD, frozenset({"8013"}), give_up_after=60.0,
                      clock=lambda: now[0])
    bot.call_ended(ended("sim.late", "8013"))
    bot.call_ended(ended("sim.never", "8013"))
    try:
        assert await bot.run_once() == 0 and set(bot.pending) == {"sim.late", "sim.never"}
        await add_call(store, "sim.late", merchant_id=shop.id, agent="8013",
                       ended_at=NOW - timedelta(minutes=1))
        now[0] = 61.0
        assert await bot.run_once() == 1
    finally:
        await bot.stop()
    assert (await store.calls.get("sim.late")).disposition == "repair"
    assert bot.pending == {}


async def test_without_the_web_app_nothing_is_tried(sqlite_store: Any) -> None:
    bot = DemoWrapups(lambda: None, PASSWORD, frozenset({"8013"}))
    bot.call_ended(ended("sim.1", "8013"))
    assert await bot.run_once() == 0 and set(bot.pending) == {"sim.1"}
