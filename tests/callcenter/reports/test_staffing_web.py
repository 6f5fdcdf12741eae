"""/staffing and /api/staffing on our own history: forecast, Erlang C / A, the floors and
what was actually staffed (from the agent state log)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.db.models import AgentStateLogRow
from callcenter.db.repositories import Store
from callcenter.domain import Role
from callcenter.reports.kpi import KpiPolicy, Targets
from callcenter.reports.service import ReportService
from callcenter.reports.web import web_module
from callcenter.reports_store import SqlReportStore
from callcenter.service import add_user
from callcenter.settings import load_settings
from callcenter.team_directory import SqlTeamDirectory
from callcenter.web.app import CTX, build_web_app
from tests.callcenter.reports.test_reports_store import TZ, call

MONDAY = date(2027, 1, 25)
LOCAL_MIDNIGHT = datetime(2027, 1, 24, 16, 0, tzinfo=UTC)  # 2027-01-25 00:00 local


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return LOCAL_MIDNIGHT + timedelta(days=(day - MONDAY).days, hours=hour, minutes=minute)


async def staffed_two_agents(store: Store) -> None:
    """8001 logged in 08:00-12:00 on MONDAY, 8002 10:00-10:45 (paused 10:15-10:30)."""
    rows = [("8001", local(MONDAY, 8), "logged_out", "available"),
            ("8001", local(MONDAY, 12), "available", "logged_out"),
            ("8002", local(MONDAY, 10), "logged_out", "available"),
            ("8002", local(MONDAY, 10, 15), "available", "paused"),
            ("8002", local(MONDAY, 10, 30), "paused", "available"),
            ("8002", local(MONDAY, 10, 45), "available", "logged_out")]
    async with store.transaction() as s:
        for agent, at, old, new in rows:
            s.add(AgentStateLogRow(agent_number=agent, interface=f"PJSIP/{agent}", at=at,
                                   old_state=old, new_state=new))


async def test_staffed_agents_per_half_hour_come_from_the_state_log(store: Store) -> None:
    await staffed_two_agents(store)
    reports = SqlReportStore(store, policy=KpiPolicy(), tz=TZ)
    staffed = await reports.staffed(local(MONDAY, 8), local(MONDAY, 13),
                                    timedelta(minutes=30))
    assert staffed[local(MONDAY, 8)] == 1.0
    assert staffed[local(MONDAY, 10)] == 2.0
    assert staffed[local(MONDAY, 10, 30)] == 1.5  # 8002 logged out at 10:45
    assert local(MONDAY, 12) not in staffed


@pytest.fixture
async def client(sqlite_store: Store) -> AsyncIterator[TestClient[Any, Any]]:
    store = sqlite_store
    await add_user(store, LOCAL_MIDNIGHT, username="sup", display_name="sup",
                   role=Role.SUPERVISOR, password="password-1")
    n = 0
    for week in range(1, 5):  # four weeks of Mondays before MONDAY: 6 calls 10:00-10:30
        day = MONDAY - timedelta(weeks=week)
        for i in range(6):
            n += 1
            await call(store, n, local(day, 10, 4 * i), "answered", wait=5.0, talk=200.0)
    await staffed_two_agents(store)
    policy = KpiPolicy()
    service = ReportService(SqlReportStore(store, policy=policy, tz=TZ), policy=policy,
                            targets=Targets(), tz=TZ)
    await service.refresh(local(MONDAY, 23))
    app = build_web_app(load_settings(environ={}), store,
                        modules=[web_module(service, SqlTeamDirectory(store))],
                        clock=lambda: local(MONDAY, 23).timestamp())
    async with TestClient(TestServer(app)) as c:
        r = await c.post("/login", data={"username": "sup", "password": "password-1"},
                         allow_redirects=False)
        assert r.status == 302
        yield c


async def test_staffing_api_forecasts_from_history_and_shows_the_staffed(
        client: TestClient[Any, Any]) -> None:
    body = await (await client.get("/api/staffing?from=2027-01-25&to=2027-01-25")).json()
    rows = {r["start"][11:16]: r for r in body["rows"]}
    assert len(rows) == 48
    ten = rows["10:00"]
    assert (ten["calls"], ten["aht_s"]) == (6.0, 200.0)
    assert 1 <= ten["erlang_a"] <= ten["erlang_c"]
    assert ten["roster_a"] == 8  # the daytime floor dominates a small hotline
    assert rows["03:00"]["roster_a"] == 2 and rows["03:00"]["calls"] == 0
    assert ten["staffed"] == 2.0 and rows["03:00"]["staffed"] == 0.0
    assert body["seat_hours"]["floor"] == 12 * 8 + 12 * 2
    assert body["history_days"] == 4


async def test_future_days_have_no_staffed_column_and_the_page_renders(
        client: TestClient[Any, Any]) -> None:
    body = await (await client.get("/api/staffing?from=2027-02-01&to=2027-02-01")).json()
    assert all(r["staffed"] is None for r in body["rows"])
    assert body["rows"][20]["calls"] == 6.0  # Monday 10:00, from the same history
    html = await (await client.get("/staffing?date=2027-01-25")).text()
    assert "<svg" in html and "Erlang A" in html


async def test_a_team_lead_sees_what_its_own_team_staffed(client: TestClient[Any, Any]) -> None:
    store = client.app[CTX].store  # type: ignore[index]
    for name, role, number in (("lead", Role.TEAM_LEAD, ""), ("8001", Role.AGENT, "8001"),
                               ("8002", Role.AGENT, "8002")):
        await add_user(store, LOCAL_MIDNIGHT, username=name, display_name=name, role=role,
                       password="password-1", agent_number=number,
                       interface=f"PJSIP/{number}" if number else "")
    teams = SqlTeamDirectory(store)
    for name in ("lead", "8001"):
        await teams.set_team(name, "A")
    await teams.set_team("8002", "B")
    client.session.cookie_jar.clear()
    await client.post("/login", data={"username": "lead", "password": "password-1"},
                      allow_redirects=False)
    body = await (await client.get("/api/staffing?from=2027-01-25&to=2027-01-25")).json()
    rows = {r["start"][11:16]: r for r in body["rows"]}
    assert rows["10:00"]["staffed"] == 1.0  # 8001 only; 8002 is in team B
    assert rows["10:00"]["roster_a"] == 8  # the need stays the hotline's
    html = await (await client.get("/staffing?date=2027-01-25")).text()
    assert "team-view" in html
