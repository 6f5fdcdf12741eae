"""Demo mode: calls answered by simulated agents get their wrap-up, so the board fills."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.business.service import BusinessService
from callcenter.simulator.demo_agents import DemoWrapups
from tests.business.conftest import NOW, RecordingHub, add_agent, add_call, seed


async def test_simulated_agents_wrap_up_their_calls_and_leave_humans_alone(
        sqlite_store: Any) -> None:
    store = sqlite_store
    shop = (await seed(store)).shop
    for number in ("8001", "8013"):
        await add_agent(store, number)
    ended = NOW - timedelta(minutes=1)
    await add_call(store, "sim.1", merchant_id=shop.id, agent="8013", ended_at=ended)
    await add_call(store, "sim.2", merchant_id=shop.id, agent="8013", ended_at=ended,
                   intent="repair")
    await add_call(store, "human.1", merchant_id=shop.id, agent="8001", ended_at=ended)
    await add_call(store, "sim.live", merchant_id=shop.id, agent="8013", ended_at=None)
    hub = RecordingHub()
    service = BusinessService(store, hub, tz=ZoneInfo("Asia/Shanghai"),  # type: ignore[arg-type]
                              external=False)
    bot = DemoWrapups(store, service, frozenset({"8013"}), clock=lambda: NOW)
    assert await bot.run_once() == 2
    first, second = await store.calls.get("sim.1"), await store.calls.get("sim.2")
    # the second repair for the same terminal is not a duplicate task: it becomes a query
    assert {first.disposition, second.disposition} == {"repair", "consultation"}
    assert (await store.calls.get("human.1")).disposition is None
    assert (await store.calls.get("sim.live")).disposition is None
    assert [t.kind.value for t in await store.tasks.open_for_merchant(shop.id)] == ["repair"]
    assert hub.sent["board"], "the dispatcher board was told about the new repair"
    assert await bot.run_once() == 0
