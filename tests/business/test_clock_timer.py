"""The complaint clocks pushed by a timer on the server: each lapse raised once on the
wallboard as it happens, the timer sleeping until the next clock is due and woken by a new
complaint."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from callcenter.business.clock_timer import ComplaintClockTimer
from callcenter.business.wrapup import WrapupForm
from callcenter.db.repositories import Store
from callcenter.topics import WALLBOARD_TOPIC

from .conftest import NOW, FakeClock, RecordingHub, Seed, add_call, local_service


def _lapses(hub: RecordingHub) -> list[str]:
    return [m["clock"] for m in hub.sent[WALLBOARD_TOPIC] if m.get("alert") == "complaint_clock"]


async def _class_two(store: Store, seeded: Seed, hub: RecordingHub) -> int:
    service = local_service(store, hub)
    await add_call(store, "k2", merchant_id=seeded.shop.id, intent="complaint")
    outcome = await service.record_wrapup("k2", WrapupForm(
        disposition="complaint_2", description="多扣手续费"), agent_number="8001", now=NOW)
    assert outcome.complaint is not None
    return outcome.complaint.complaint.id


async def test_each_lapse_is_raised_once_as_it_happens(store: Store, seeded: Seed,
                                                       hub: RecordingHub) -> None:
    complaint_id = await _class_two(store, seeded, hub)
    clock = FakeClock(NOW + timedelta(minutes=10))
    timer = ComplaintClockTimer(local_service(store, hub), clock=clock)
    assert await timer.tick() == NOW + timedelta(minutes=30)  # the report clock is next
    assert _lapses(hub) == []
    clock.now = NOW + timedelta(minutes=31)
    assert await timer.tick() == NOW + timedelta(hours=1)
    assert _lapses(hub) == ["report_supervisor"]
    await timer.tick()
    assert _lapses(hub) == ["report_supervisor"]  # once
    [alert] = [m for m in hub.sent[WALLBOARD_TOPIC] if m.get("alert") == "complaint_clock"]
    assert alert["complaint_id"] == complaint_id and alert["task_number"].startswith("CP")
    await local_service(store, hub).complaint_action(
        complaint_id, "temporary_solution", "先退一半", actor="sup", now=clock.now)
    clock.now = NOW + timedelta(hours=2)
    assert await timer.tick() is None  # nothing running any more
    assert _lapses(hub) == ["report_supervisor"]  # the 1-hour clock was met in time


async def test_the_timer_wakes_for_a_new_complaint_and_raises_without_anyone_asking(
        store: Store, seeded: Seed, hub: RecordingHub) -> None:
    clock = FakeClock(NOW + timedelta(hours=2))  # every clock of the coming complaint lapsed
    service = local_service(store, hub)
    timer = ComplaintClockTimer(service, clock=clock, max_sleep_s=3600)
    service.on_complaint = timer.wake
    await timer.start()
    try:
        await asyncio.sleep(0.05)  # first round: no complaint, sleeps for an hour
        await add_call(store, "k2", merchant_id=seeded.shop.id, intent="complaint")
        await service.record_wrapup("k2", WrapupForm(
            disposition="complaint_2", description="多扣手续费"), agent_number="8001", now=NOW)
        for _ in range(100):
            if _lapses(hub):
                break
            await asyncio.sleep(0.02)
        assert sorted(_lapses(hub)) == ["report_supervisor", "temporary_solution"]
    finally:
        await timer.stop()
