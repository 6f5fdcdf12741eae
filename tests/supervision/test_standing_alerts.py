"""The wallboard's standing alerts, from the product's own records: a supervisor who opens
/wallboard after an alert was pushed still sees it (the page's initial board and the
WebSocket's hello carry ``standing``), and a resolved one disappears. The business service,
the complaint clock timer and the outbox worker are the real ones (SQLite and PostgreSQL);
the supervision service hears them through the hub (``Hub.observe``)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from aiohttp.test_utils import TestClient, TestServer

from callcenter.business.business_client import BusinessClient
from callcenter.business.clock_timer import ComplaintClockTimer
from callcenter.business.outbox_worker import OutboxWorker
from callcenter.business.service import BusinessService
from callcenter.business.wrapup import WrapupForm
from callcenter.cti_directory import StoreCtiDirectory
from callcenter.db.repositories import Store
from callcenter.domain import Role
from callcenter.settings import BusinessSettings, load_settings
from callcenter.supervision_store import StoreDayCalls, StoreStandingAlerts
from callcenter.web.app import build_web_app
from cti.service import CtiService
from supervision.service import SupervisionService
from supervision.web import web_module
from tests.business import conftest as business_fixtures
from tests.business.conftest import (
    NOW,
    FakeClock,
    RecordingHub,
    Seed,
    add_call,
    external_service,
    local_service,
    repair_form,
)
from tests.web_sessions import session_headers

# the business tests' databases (SQLite and PostgreSQL), seeded merchants and recording hub
business_postgres_url = business_fixtures.business_postgres_url
migrated_sqlite_file = business_fixtures.migrated_sqlite_file
sqlite_url = business_fixtures.sqlite_url
business_db_url = business_fixtures.business_db_url
store = business_fixtures.store
hub = business_fixtures.hub
seeded = business_fixtures.seeded

BMS = "http://bms.test/api"
INITIAL = re.compile(r'<script type="application/json" id="wb-initial">(.*?)</script>', re.S)


@dataclass
class Wallboard:
    client: TestClient[Any, Any]
    supervision: SupervisionService
    headers: dict[str, str]

    async def page(self) -> dict[str, Any]:
        """A fresh page load: the board the page starts from."""
        r = await self.client.get("/wallboard", headers=self.headers)
        assert r.status == 200
        found = INITIAL.search(await r.text())
        assert found is not None
        board: dict[str, Any] = json.loads(found.group(1))
        return board

    async def hello(self) -> dict[str, Any]:
        """What a newly connected WebSocket is sent first."""
        async with self.client.ws_connect("/ws/wallboard", headers=self.headers) as ws:
            message: dict[str, Any] = await ws.receive_json(timeout=5)
        return message

    async def until(self, predicate: Callable[[list[dict[str, Any]]], bool]) -> None:
        for _ in range(200):
            task = self.supervision._standing_task
            if task is not None and not task.done():
                await asyncio.wait([task], timeout=2)
            if predicate(self.supervision.standing):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"standing alerts never matched: {self.supervision.standing}")


def kinds(standing: list[dict[str, Any]]) -> list[str]:
    return [a["key"].split(":")[0] for a in standing]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def wallboard(store: Store, seeded: Seed, hub: RecordingHub, clock: FakeClock
                    ) -> AsyncIterator[Wallboard]:
    boss = await store.users.add("boss", "王班长", Role.SUPERVISOR, "!", NOW)
    cti = CtiService(StoreCtiDirectory(store), hub, clock=clock.epoch)
    supervision = SupervisionService(cti, StoreDayCalls(store), hub, clock=clock.epoch,
                                     standing=StoreStandingAlerts(store))
    hub.observe(supervision.on_published)
    await supervision.refresh_standing()
    settings = load_settings(environ={"CALLCENTER_WEB_SESSION_SECRET": "standing"})
    app = build_web_app(settings, store, modules=[web_module(supervision)], hub=hub)
    try:
        async with TestClient(TestServer(app)) as client:
            yield Wallboard(client, supervision,
                            await session_headers(store, boss.id, datetime.now(UTC)))
    finally:
        await supervision.stop()


async def test_a_class_two_complaints_clocks_show_on_a_fresh_page_until_resolved(
        store: Store, seeded: Seed, hub: RecordingHub, clock: FakeClock,
        wallboard: Wallboard) -> None:
    business = local_service(store, hub)
    await add_call(store, "k2", merchant_id=seeded.shop.id, intent="complaint")
    outcome = await business.record_wrapup("k2", WrapupForm(
        disposition="complaint_2", description="多扣手续费"), agent_number="8001", now=NOW)
    assert outcome.complaint is not None
    complaint_id = outcome.complaint.complaint.id
    await wallboard.until(lambda s: kinds(s) == ["complaint"])  # pushed, then read
    [alert] = (await wallboard.page())["standing"]
    assert (alert["key"], alert["class"], alert["top_tier"], alert["overdue"]) == (
        f"complaint:{complaint_id}", 2, False, False)
    # (the complaint's task is its second-line ticket: that clock is met at once)
    assert [(k["clock"], k["state"], k["due_at"]) for k in alert["clocks"]] == [
        ("report_supervisor", "running", (NOW + timedelta(minutes=30)).isoformat()),
        ("temporary_solution", "running", (NOW + timedelta(hours=1)).isoformat())]

    # The 30-minute report clock lapses: the timer pushes it; a page opened later shows it.
    clock.now = NOW + timedelta(minutes=31)
    await ComplaintClockTimer(business, clock=clock).tick()
    assert any(m.get("alert") == "complaint_clock" for m in hub.sent["wallboard"])
    await wallboard.until(lambda s: bool(s) and s[0]["overdue"])
    for board in (await wallboard.page(), await wallboard.hello()):
        [alert] = board["standing"]
        assert alert["overdue"] and {k["clock"]: k["state"] for k in alert["clocks"]} == {
            "report_supervisor": "overdue", "temporary_solution": "running"}

    # Reported (late): only the 1-hour clock is left, still running.
    await business.complaint_action(complaint_id, "report", "", actor="boss", now=clock.now)
    await wallboard.until(lambda s: [(k["clock"], k["state"]) for k in s[0]["clocks"]]
                          == [("temporary_solution", "running")])
    assert not (await wallboard.page())["standing"][0]["overdue"]
    # A temporary solution in time: every clock met, the complaint is gone from the page.
    await business.complaint_action(complaint_id, "temporary_solution", "先退一半",
                                    actor="boss", now=clock.now)
    await wallboard.until(lambda s: s == [])
    assert (await wallboard.page())["standing"] == []


async def test_a_top_tier_complaint_settled_on_the_phone_stands_for_a_day(
        store: Store, seeded: Seed, hub: RecordingHub, clock: FakeClock,
        wallboard: Wallboard) -> None:
    business = local_service(store, hub)
    await add_call(store, "k1", merchant_id=seeded.shop.id, intent="complaint")
    await business.record_wrapup("k1", WrapupForm(
        disposition="complaint_1", description="刷卡多扣款", handling="解释并登记",
        result="商户接受", amount_yuan=8000.0),
        agent_number="8001", now=NOW)
    await wallboard.until(lambda s: kinds(s) == ["complaint"])
    [alert] = (await wallboard.page())["standing"]
    assert (alert["class"], alert["top_tier"], alert["clocks"]) == (1, True, [])
    clock.now = NOW + timedelta(hours=25)
    await wallboard.supervision.refresh_standing()  # what the service does every minute
    assert (await wallboard.page())["standing"] == []


async def test_a_dead_letter_shows_on_a_fresh_page_until_requeued(
        store: Store, seeded: Seed, hub: RecordingHub, clock: FakeClock,
        wallboard: Wallboard) -> None:
    business: BusinessService = external_service(store, hub)
    await add_call(store, "d1", merchant_id=seeded.shop.id)
    created = await business.record_wrapup("d1", repair_form(), agent_number="8001",
                                           now=clock.now)
    assert created.task is not None
    client = BusinessClient(BusinessSettings(url=BMS, secret="s", timeout=2.0),
                            transport=httpx.AsyncHTTPTransport())
    worker = OutboxWorker(business.repo, client.deliver, clock=clock, jitter=lambda: 1.0,
                          owner="w1", on_completed=business.delivered)
    try:
        with respx.mock(base_url=BMS) as router:
            router.post("/tasks").mock(return_value=httpx.Response(
                422, json={"error": "unknown merchant"}))
            assert (await worker.run_once()).dead == 1
    finally:
        await client.aclose()
    await wallboard.until(lambda s: kinds(s) == ["dead_letter"])
    [alert] = (await wallboard.page())["standing"]
    assert alert["task_number"] == created.task.task_number and "422" in alert["error"]
    await business.requeue(alert["outbox_id"], clock.now)
    await wallboard.until(lambda s: s == [])
    assert (await wallboard.hello())["standing"] == []
