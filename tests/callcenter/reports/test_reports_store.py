"""The KPI cells on SQLite and PostgreSQL: kept current as calls end, equal to a full scan."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from callcenter.db.models import AgentStateLogRow, ReportCellRow
from callcenter.db.repositories import Store
from callcenter.domain import MerchantInput
from callcenter.reports.kpi import KpiPolicy, Targets
from callcenter.reports.periods import Group
from callcenter.reports.service import ReportService
from callcenter.reports_store import SqlReportStore

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2027, 1, 4, 0, 0, tzinfo=UTC)  # 08:00 local
POLICY = KpiPolicy()


async def call(store: Store, n: int, at: datetime, outcome: str, *, wait: float = 5.0,
               talk: float = 60.0, agent: str = "8001", queue: str = "aftersales",
               **more: Any) -> None:
    answered = outcome == "answered"
    await store.calls.upsert(
        f"c{n}", at, queue=queue, queued_at=at + timedelta(seconds=10),
        answered_at=at + timedelta(seconds=10 + wait) if answered else None,
        ended_at=at + timedelta(seconds=10 + wait + (talk if answered else 0)),
        outcome=outcome, wait_s=wait, talk_s=talk if answered else 0.0,
        agent_number=agent if answered else "", **more)


def service(store: Store) -> ReportService:
    return ReportService(SqlReportStore(store, policy=POLICY, tz=TZ), policy=POLICY,
                         targets=Targets(), tz=TZ)


async def test_cells_follow_the_calls_as_they_end(store: Store) -> None:
    reports = service(store)
    await call(store, 1, T0, "answered", wait=4.0)
    await call(store, 2, T0 + timedelta(minutes=20), "abandoned", wait=30.0)
    await reports.refresh(T0 + timedelta(hours=1))
    day = date(2027, 1, 4)
    first = (await reports.kpi(day, day, Group.TOTAL)).total.figures
    assert (first["offered"], first["answered"], first["abandoned"]) == (2, 1, 1)

    # A call ends later: the next refresh picks it up (high-water mark), nothing is rescanned.
    await call(store, 3, T0 + timedelta(hours=2), "answered", wait=40.0, agent="8002")
    await reports.refresh(T0 + timedelta(hours=3))
    later = (await reports.kpi(day, day, Group.AGENT)).rows
    assert {r.group: r.figures["answered"] for r in later} == {"": 0, "8001": 1, "8002": 1}
    total = (await reports.kpi(day, day, Group.TOTAL)).total.figures
    assert (total["offered"], total["answer_rate"], total["service_level"]) == \
        (3, round(2 / 3, 4), round(1 / 3, 4))


async def test_a_wrap_up_saved_after_the_call_ended_reaches_the_cells(store: Store) -> None:
    reports = service(store)
    await call(store, 1, T0, "answered")
    await reports.refresh(T0 + timedelta(minutes=5))
    day = date(2027, 1, 4)
    assert (await reports.kpi(day, day, Group.TOTAL)).total.figures["record_completeness"] == 0
    await store.calls.upsert("c1", T0, disposition="consultation", satisfaction=5)
    await reports.refresh(T0 + timedelta(minutes=20))  # within the settle window
    figures = (await reports.kpi(day, day, Group.TOTAL)).total.figures
    assert (figures["record_completeness"], figures["satisfaction_avg"]) == (1.0, 5.0)


async def test_refreshing_twice_changes_nothing(store: Store) -> None:
    reports = service(store)
    for n in range(6):
        await call(store, n, T0 + timedelta(minutes=7 * n), "answered")
    await reports.refresh(T0 + timedelta(hours=1))
    await reports.refresh(T0 + timedelta(hours=1, minutes=1))
    async with store.transaction() as s:
        rows = await s.scalar(select(func.sum(ReportCellRow.answered)))
    assert rows == 6


async def test_after_call_work_and_repeat_contacts_come_from_the_history(store: Store) -> None:
    await store.merchants.upsert_many([MerchantInput("123456789012345", "店", "址", "区", "人",
                                                     ("13800138000",), "09:00-21:00")], T0)
    ids = await store.merchants.by_numbers(["123456789012345"])
    mid = ids["123456789012345"]
    await call(store, 1, T0 - timedelta(days=2), "answered", merchant_id=mid, intent="repair")
    await call(store, 2, T0, "answered", merchant_id=mid, intent="repair", talk=60.0)
    ended = T0 + timedelta(seconds=75)
    async with store.transaction() as s:
        for at, old, new in ((ended, "on_call", "wrap_up"),
                             (ended + timedelta(seconds=30), "wrap_up", "available")):
            s.add(AgentStateLogRow(agent_number="8001", interface="PJSIP/8001", at=at,
                                   old_state=old, new_state=new))
    reports = service(store)
    await reports.refresh(T0 + timedelta(hours=1))
    day = date(2027, 1, 4)
    figures = (await reports.kpi(day, day, Group.TOTAL)).total.figures
    assert figures["aht_s"] == 90.0  # 60 s talk + 30 s wrap-up
    assert (figures["fcr"], figures["repeat_rate"]) == (0.0, 1.0)  # same problem 2 days ago


async def test_a_day_is_grouped_by_local_hour_and_the_drill_down_lists_its_calls(
        store: Store) -> None:
    reports = service(store)
    await call(store, 1, T0, "answered")
    await call(store, 2, T0 + timedelta(hours=1, minutes=50), "answered", agent="8002")
    await reports.refresh(T0 + timedelta(hours=3))
    day = date(2027, 1, 4)
    hours = (await reports.kpi(day, day, Group.HOUR)).rows
    assert [r.group for r in hours] == ["2027-01-04 08:00", "2027-01-04 09:00"]
    calls = await reports.calls(day, day, queue="aftersales", agent="8002")
    assert [c.linked_id for c in calls] == ["c2"]
