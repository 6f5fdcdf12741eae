"""The day's callbacks (回访) planned from the command line (``callcenter callbacks plan``) and
by the daily job inside ``serve`` (callcenter/callbacks/planning.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import update

from callcenter import cli
from callcenter.callbacks.planning import DailyPlanJob
from callcenter.callbacks.rules import CallbackKind
from callcenter.callbacks.service import CallbackService
from callcenter.callbacks_store import SqlCallbackStore
from callcenter.db.models import CallRow, TaskRow
from callcenter.db.repositories import Store
from callcenter.domain import TaskStatus
from tests.business.conftest import (
    NOW,
    TZ,
    RecordingHub,
    Seed,
    add_agent,
    add_call,
    local_service,
    repair_form,
)

YESTERDAY = NOW - timedelta(days=1)  # 2026-11-21 10:00 Shanghai
TODAY = NOW.astimezone(TZ).date()


async def closed_task_and_low_score(store: Store, seeded: Seed, hub: RecordingHub) -> None:
    """Yesterday: a repair task closed, and a call scored 1 in the survey."""
    await add_agent(store, "8001")
    await add_agent(store, "8002")
    await add_call(store, "c1", merchant_id=seeded.shop.id, ended_at=YESTERDAY,
                   started_at=YESTERDAY - timedelta(minutes=5))
    outcome = await local_service(store, hub).record_wrapup("c1", repair_form(),
                                                           agent_number="8001", now=YESTERDAY)
    assert outcome.task is not None
    async with store.transaction() as s:
        await s.execute(update(TaskRow).where(TaskRow.id == outcome.task.id)
                        .values(status=TaskStatus.DONE.value, updated_at=YESTERDAY))
        await s.execute(update(CallRow).where(CallRow.linked_id == "c1").values(satisfaction=1))


async def test_the_command_plans_the_day_once_and_audits_it(
        store: Store, seeded: Seed, hub: RecordingHub, business_db_url: str,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    await closed_task_and_low_score(store, seeded, hub)
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", business_db_url)
    monkeypatch.setenv("CALLCENTER_CONFIG", "")
    args = ["callbacks", "plan", "--date", TODAY.isoformat()]
    assert await asyncio.to_thread(cli.main, args) == 0
    assert capsys.readouterr().out.strip() == (
        f"callbacks {TODAY.isoformat()}: 2 planned, 0 earlier ones assigned")
    assert await asyncio.to_thread(cli.main, args) == 0  # idempotent
    assert "0 planned" in capsys.readouterr().out
    found = await CallbackService(SqlCallbackStore(store), hub, TZ).find()
    assert sorted((c.source_ref or "").split(":")[0] for c in found) == ["survey", "task"]
    assert "survey:c1" in {c.source_ref for c in found}
    assert {(c.kind, c.planned_for) for c in found} == {(CallbackKind.SERVICE, TODAY)}
    assert {c.agent_number for c in found} == {"8001", "8002"}  # spread over the agents
    audit = await store.audit.recent(action="callback.plan")
    assert [(a.target, a.details["planned"]) for a in audit] == [
        (TODAY.isoformat(), 0), (TODAY.isoformat(), 2)]
    assert all(a.actor.startswith("cli:") for a in audit)


async def test_a_bad_date_is_refused_with_a_message(
        store: Store, business_db_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", business_db_url)
    monkeypatch.setenv("CALLCENTER_CONFIG", "")
    assert await asyncio.to_thread(cli.main, ["callbacks", "plan", "--date", "22/11/2026"]) == 1
    assert "YYYY-MM-DD" in capsys.readouterr().err


async def test_the_daily_job_plans_each_day_once_from_7_30_local_time(
        store: Store, seeded: Seed, hub: RecordingHub) -> None:
    await closed_task_and_low_score(store, seeded, hub)
    service = CallbackService(SqlCallbackStore(store), hub, TZ)
    now = [datetime.combine(TODAY, time(7, 29), TZ)]
    job = DailyPlanJob(store, service, clock=lambda: now[0])
    assert await job.run_once() is None  # before the plan time
    now[0] = datetime.combine(TODAY, time(7, 31), TZ)
    result = await job.run_once()
    assert result is not None and (result.day, result.planned) == (TODAY, 2)
    now[0] += timedelta(hours=3)
    assert await job.run_once() is None  # once a day
    assert len(await service.find()) == 2
    now[0] = datetime.combine(TODAY + timedelta(days=1), time(8, 0), TZ)
    tomorrow = await job.run_once()
    assert tomorrow is not None and (tomorrow.day, tomorrow.planned) == (
        TODAY + timedelta(days=1), 0)  # nothing closed today yet
    [agent_note] = {m["day"] for t, m in hub.messages if m.get("type") == "callbacks"}
    assert agent_note == TODAY.isoformat()
