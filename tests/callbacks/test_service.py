"""Callbacks on the database: complaint follow-ups scheduled on close, a day planned from
closed tasks and low scores (once), the form, the 2-day clock pushed on the wallboard,
review, CSV upload and the monthly summary."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import update

from callcenter.business.wrapup import WrapupForm
from callcenter.callbacks.rules import CallbackKind, CallbackState
from callcenter.callbacks.service import CallbackService
from callcenter.callbacks_store import SqlCallbackStore
from callcenter.db.models import CallRow, TaskRow
from callcenter.db.repositories import Store
from callcenter.domain import TaskStatus
from callcenter.topics import WALLBOARD_TOPIC
from tests.business.conftest import (
    NOW,
    SHOP,
    TZ,
    RecordingHub,
    Seed,
    add_agent,
    add_call,
    local_service,
    repair_form,
)

GOOD = {"identity_stated": True, "purpose_stated": True, "accepted": True,
        "outcome": "completed", "answers": {"satisfaction": 2, "attitude": 4, "solved": "no"}}


def callbacks(store: Store, hub: RecordingHub) -> CallbackService:
    return CallbackService(SqlCallbackStore(store), hub, TZ)


async def test_closing_a_complaint_schedules_one_follow_up_within_a_month(
        store: Store, seeded: Seed, hub: RecordingHub) -> None:
    business = local_service(store, hub)
    await add_call(store, "k1", merchant_id=seeded.shop.id, intent="complaint")
    await business.record_wrapup("k1", WrapupForm(
        disposition="complaint_1", description="到账慢", handling="解释清算周期",
        result="商户满意"), agent_number="8001", now=NOW)  # class 1: closed at once
    await add_call(store, "k2", merchant_id=seeded.shop.id, intent="complaint")
    two = await business.record_wrapup("k2", WrapupForm(
        disposition="complaint_2", description="多扣手续费"), agent_number="8001", now=NOW)
    assert two.complaint is not None
    service = callbacks(store, hub)
    assert len(await service.find()) == 1  # the open class-2 complaint has none yet
    closed = NOW + timedelta(hours=3)
    await business.complaint_action(two.complaint.complaint.id, "close", "退还手续费",
                                    actor="sup", now=closed)
    found = await service.find()
    assert [(c.kind, c.state, c.complaint_id is not None) for c in found] == [
        (CallbackKind.COMPLAINT_FOLLOWUP, CallbackState.PLANNED, True)] * 2
    follow = next(c for c in found if c.complaint_id == two.complaint.complaint.id)
    assert follow.due_at == closed + timedelta(days=30)
    assert follow.merchant_id == seeded.shop.id


async def test_planning_a_day_from_closed_tasks_and_low_scores_once(
        store: Store, seeded: Seed, hub: RecordingHub) -> None:
    await add_agent(store, "8001")
    await add_agent(store, "8002")
    business = local_service(store, hub)
    await add_call(store, "c1", merchant_id=seeded.shop.id, ended_at=NOW)
    outcome = await business.record_wrapup("c1", repair_form(), agent_number="8001", now=NOW)
    assert outcome.task is not None
    async with store.transaction() as s:
        await s.execute(update(TaskRow).where(TaskRow.id == outcome.task.id)
                        .values(status=TaskStatus.DONE.value, updated_at=NOW))
        await s.execute(update(CallRow).where(CallRow.linked_id == "c1")
                        .values(satisfaction=1))
    service = callbacks(store, hub)
    tomorrow = NOW.astimezone(TZ).date() + timedelta(days=1)
    result = await service.plan_day(tomorrow, NOW + timedelta(days=1))
    assert (result.planned, result.assigned) == (2, 0)
    again = await service.plan_day(tomorrow, NOW + timedelta(days=1))
    assert again.planned == 0  # idempotent
    planned = await service.find(state=CallbackState.PLANNED)
    assert sorted(c.agent_number for c in planned) == ["8001", "8002"]  # spread
    assert {c.kind for c in planned} == {CallbackKind.SERVICE}
    assert all(c.planned_for == tomorrow for c in planned)
    assert "planned" in {m["event"] for m in hub.sent["agent:8001"] if m["type"] == "callbacks"}


async def test_the_form_the_two_day_clock_on_the_wallboard_and_review(
        store: Store, seeded: Seed, hub: RecordingHub) -> None:
    await add_agent(store, "8001")
    service = callbacks(store, hub)
    day = NOW.astimezone(TZ).date()
    await service.upload(f"merchant_number,kind,purpose\n{SHOP},service,回访\n", day, NOW)
    [cb] = await service.find(agent_number="8001")
    pending = await service.submit(cb.id, {"outcome": "unreachable"}, agent_number="8001",
                                   now=NOW)
    assert (pending.state, pending.attempts) == (CallbackState.PENDING, 1)
    assert pending.next_attempt_at == NOW + timedelta(hours=2)
    assert await service.tick(NOW + timedelta(days=2)) == 0  # at the limit: not yet
    assert await service.tick(NOW + timedelta(days=2, minutes=1)) == 1
    assert await service.tick(NOW + timedelta(days=2, minutes=2)) == 0  # raised once
    [alert] = [m for m in hub.sent[WALLBOARD_TOPIC] if m.get("alert") == "callback_overdue"]
    assert alert["callback_id"] == cb.id and alert["agent_number"] == "8001"
    later = NOW + timedelta(days=2, hours=1)
    done = await service.submit(cb.id, GOOD, agent_number="8001", now=later)
    assert done.state is CallbackState.DONE and done.completed_at == later
    assert await service.find(state=CallbackState.PENDING) == []
    reviewed = await service.review(cb.id, "sup", later)
    assert reviewed.reviewed_by == "sup"
    [row] = [r for r in await service.summary(date(2026, 11, 1), later) if r["group"] == "total"]
    assert (row["done"], row["reviewed"], row["avg_satisfaction"]) == (1, 1, 2)
