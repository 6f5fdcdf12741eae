"""/roster: a supervisor uploads an edited roster and sees what it breaks; an agent asks for a
swap; the team lead (a supervisor, until the role exists) approves it and the roster changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.db.repositories import Store
from callcenter.domain import Role
from callcenter.reports.roster import Roster, RosterRules, to_csv
from callcenter.reports.roster_service import RosterService
from callcenter.reports.roster_web import ROUTES, web_module
from callcenter.roster_store import SqlRosterStore
from callcenter.service import add_user
from callcenter.settings import load_settings
from callcenter.team_directory import SqlTeamDirectory
from callcenter.web.app import CTX, build_web_app
from tests.callcenter.reports.test_roster import JAN_END, LEGAL, edit
from tests.callcenter.reports.test_web import login

NOW = datetime(2027, 1, 20, 2, 0, tzinfo=UTC)
RULES = RosterRules(day_floor=0, night_floor=0)
ROSTER = Roster(2027, 2, {"8001": list(LEGAL), "8002": edit(10, "O", edit(11, "D"))})


@pytest.fixture
async def client(sqlite_store: Store) -> AsyncIterator[TestClient[Any, Any]]:
    store = sqlite_store
    for name, role in (("sup", Role.SUPERVISOR), ("disp", Role.DISPATCHER)):
        await add_user(store, NOW, username=name, display_name=name, role=role,
                       password="password-1")
    for number in ("8001", "8002"):
        await add_user(store, NOW, username=number, display_name=number, role=Role.AGENT,
                       password="password-1", agent_number=number,
                       interface=f"PJSIP/{number}")
    service = RosterService(SqlRosterStore(store), RULES)
    app = build_web_app(load_settings(environ={}), store,
                        modules=[web_module(service, SqlTeamDirectory(store))],
                        clock=NOW.timestamp)
    async with TestClient(TestServer(app)) as c:
        yield c


async def upload(client: TestClient[Any, Any], roster: Roster, leave: str = "") -> int:
    r = await client.post("/roster/upload", json={"month": "2027-02", "roster": to_csv(roster),
                                                   "leave": leave})
    if r.status == 200:
        assert (await r.json())["redirect"] == "/roster?month=2027-02"
    return r.status


async def test_an_uploaded_roster_is_shown_with_every_rule_it_breaks(
        client: TestClient[Any, Any]) -> None:
    await login(client, "sup")
    broken = Roster(2027, 2, {"8001": edit(11, "D"), "8002": list(LEGAL)})
    assert await upload(client, broken) == 200
    body = await (await client.get("/api/roster?month=2027-02")).json()
    assert [(v["rule"], v["agent"], v["day"]) for v in body["violations"]] == [
        ("min_rest", "8001", "2027-02-11")]
    html = await (await client.get("/roster?month=2027-02")).text()
    assert "min_rest: 8001 2027-02-11" in html
    csv_text = await (await client.get("/api/roster?month=2027-02&format=csv")).text()
    assert csv_text.startswith("agent,2027-02-01")


async def test_an_agent_asks_for_a_swap_and_the_team_lead_approves_it(
        client: TestClient[Any, Any]) -> None:
    await login(client, "sup")
    assert await upload(client, ROSTER) == 200
    await login(client, "8002")
    r = await client.post("/roster/swaps", json={"month": "2027-02", "other": "8001",
                                                 "day": "2027-02-11"})
    assert r.status == 200
    html = await (await client.get("/roster?month=2027-02")).text()
    assert "8002 ⇄ 8001 2027-02-11" in html
    assert "min_rest: 8001 2027-02-11" in html  # the preview: what approving would break
    r = await client.post("/roster/swaps/1/approve", json={})
    assert r.status == 403  # agents do not decide swaps

    await login(client, "sup")
    r = await client.post("/roster/swaps/1/approve", json={})
    assert r.status == 200
    body = await (await client.get("/api/roster?month=2027-02")).json()
    assert body["roster"]["8001"][10] == "D" and body["roster"]["8002"][10] == "O"
    assert body["swaps"] == [{"id": 1, "a": "8002", "b": "8001", "day": "2027-02-11",
                              "state": "approved"}]
    assert [v["rule"] for v in body["violations"]] == ["min_rest"]
    r = await client.post("/roster/swaps/1/reject", json={})
    assert r.status == 404  # already decided


async def test_an_agent_cannot_swap_someone_elses_shift(client: TestClient[Any, Any]) -> None:
    await login(client, "sup")
    await upload(client, ROSTER)
    await login(client, "8002")
    r = await client.post("/roster/swaps", json={"month": "2027-02", "agent": "8001",
                                                 "other": "8002", "day": "2027-02-11"})
    assert r.status == 403


@pytest.mark.parametrize(("method", "path"), list(ROUTES))
async def test_dispatchers_have_no_roster_routes(client: TestClient[Any, Any], method: str,
                                                 path: str) -> None:
    await login(client, "disp")
    r = await client.request(method, path.replace("{id}", "1"), allow_redirects=False,
                             headers={"Accept": "application/json"},
                             json={} if method == "POST" else None)
    assert r.status == 403


async def test_the_stored_previous_month_is_history_for_the_roster_shown(
        client: TestClient[Any, Any]) -> None:
    await login(client, "sup")
    feb = Roster(2027, 2, {"8001": edit(1, "D"), "8002": list(LEGAL)})
    assert await upload(client, feb) == 200
    body = await (await client.get("/api/roster?month=2027-02")).json()
    assert body["violations"] == []  # no January yet: nothing to hold it against
    r = await client.post("/roster/upload", json={
        "month": "2027-01", "roster": to_csv(JAN_END), "leave": ""})
    assert r.status == 200
    body = await (await client.get("/api/roster?month=2027-02")).json()
    assert {(v["rule"], v["agent"], v["day"]) for v in body["violations"]} == {
        ("min_rest", "8001", "2027-02-01"), ("consecutive", "8001", "2027-02-01")}


async def test_a_team_lead_sees_and_decides_its_own_teams_roster_only(
        client: TestClient[Any, Any]) -> None:
    store = client.app[CTX].store  # type: ignore[index]
    await add_user(store, NOW, username="8003", display_name="8003", role=Role.AGENT,
                   password="password-1", agent_number="8003", interface="PJSIP/8003")
    await add_user(store, NOW, username="lead", display_name="lead", role=Role.TEAM_LEAD,
                   password="password-1")
    teams = SqlTeamDirectory(store)
    for name in ("lead", "8001", "8002"):
        await teams.set_team(name, "A")
    await teams.set_team("8003", "B")
    await login(client, "sup")
    three = Roster(2027, 2, {**ROSTER.codes, "8003": edit(11, "D")})  # 8003 breaks min_rest
    assert await upload(client, three) == 200
    await login(client, "8003")
    assert (await client.post("/roster/swaps", json={
        "month": "2027-02", "other": "8001", "day": "2027-02-12"})).status == 200

    await login(client, "lead")
    body = await (await client.get("/api/roster?month=2027-02")).json()
    assert sorted(body["roster"]) == ["8001", "8002"]
    assert all(v["agent"] in ("", "8001", "8002") for v in body["violations"])
    csv_text = await (await client.get("/api/roster?month=2027-02&format=csv")).text()
    assert "8003" not in csv_text and "\n8001," in csv_text
    html = await (await client.get("/roster?month=2027-02")).text()
    assert "team-view" in html and "8003" in html  # 8003 is only named by its swap with 8001
    assert 'action="/roster/upload"' not in html
    # a swap with an agent of team B is not the team lead's to decide, nor to ask for
    assert (await client.post("/roster/swaps/1/approve", json={})).status == 403
    assert (await client.post("/roster/swaps", json={
        "month": "2027-02", "agent": "8001", "other": "8003", "day": "2027-02-12"})
            ).status == 403
    assert (await client.post("/roster/swaps", json={
        "month": "2027-02", "agent": "8001", "other": "8002", "day": "2027-02-12"})
            ).status == 200
    assert (await client.post("/roster/swaps/2/approve", json={})).status == 200
    assert await upload(client, three) == 403
