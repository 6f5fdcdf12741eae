"""The reports over HTTP: the KPI API's contract, CSV and XLSX, who may read, the page."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.db.repositories import Store
from callcenter.domain import Role
from callcenter.reports.kpi import KpiPolicy, Targets
from callcenter.reports.service import ReportService
from callcenter.reports.web import ROUTES, web_module
from callcenter.reports_store import SqlReportStore
from callcenter.service import add_user
from callcenter.settings import load_settings
from callcenter.team_directory import SqlTeamDirectory
from callcenter.web.app import CTX, build_web_app
from tests.callcenter.reports.test_reports_store import TZ, call

T0 = datetime(2027, 1, 4, 0, 0, tzinfo=UTC)
CONTRACT = ("group", "offered", "answered", "abandoned", "answer_rate", "service_level",
            "asa_s", "aht_s")


@pytest.fixture
async def client(sqlite_store: Store) -> AsyncIterator[TestClient[Any, Any]]:
    store = sqlite_store
    for name, role in (("sup", Role.SUPERVISOR), ("adm", Role.ADMIN),
                       ("disp", Role.DISPATCHER)):
        await add_user(store, T0, username=name, display_name=name, role=role,
                       password="password-1")
    await add_user(store, T0, username="8001", display_name="8001", role=Role.AGENT,
                   password="password-1", agent_number="8001", interface="PJSIP/8001")
    await call(store, 1, T0, "answered", wait=4.0, talk=100.0)
    await call(store, 2, T0 + timedelta(minutes=30), "answered", wait=30.0, talk=50.0,
               queue="presales", agent="8002")
    await call(store, 3, T0 + timedelta(hours=1), "abandoned", wait=45.0)
    policy = KpiPolicy()
    service = ReportService(SqlReportStore(store, policy=policy, tz=TZ), policy=policy,
                            targets=Targets(), tz=TZ)
    await service.refresh(T0 + timedelta(hours=2))
    app = build_web_app(load_settings(environ={}), store,
                        modules=[web_module(service, SqlTeamDirectory(store))],
                        clock=lambda: (T0 + timedelta(hours=3)).timestamp())
    async with TestClient(TestServer(app)) as c:
        yield c


async def login(client: TestClient[Any, Any], username: str) -> None:
    client.session.cookie_jar.clear()
    r = await client.post("/login", data={"username": username, "password": "password-1"},
                          allow_redirects=False)
    assert r.status == 302


async def test_kpi_api_gives_the_contract_figures_per_queue(client: TestClient[Any, Any]
                                                            ) -> None:
    await login(client, "sup")
    r = await client.get("/api/reports/kpi?from=2027-01-04&to=2027-01-04&group=queue")
    assert r.status == 200
    body = await r.json()
    rows = {row["group"]: row for row in body["rows"]}
    assert set(rows) == {"aftersales", "presales"}
    for row in body["rows"]:
        assert set(CONTRACT) <= set(row)
    assert (rows["aftersales"]["offered"], rows["aftersales"]["answered"],
            rows["aftersales"]["abandoned"]) == (2, 1, 1)
    assert rows["aftersales"]["answer_rate"] == 0.5
    assert rows["presales"]["service_level"] == 0.0  # answered after 30 s > 20 s
    assert (rows["presales"]["asa_s"], rows["presales"]["aht_s"]) == (30.0, 50.0)
    assert body["total"]["offered"] == 3


@pytest.mark.parametrize(("group", "keys"), [
    ("agent", ["", "8001", "8002"]),
    ("hour", ["2027-01-04 08:00", "2027-01-04 09:00"]),
])
async def test_kpi_api_groups_by_agent_and_by_hour(client: TestClient[Any, Any], group: str,
                                                   keys: list[str]) -> None:
    await login(client, "adm")
    body = await (await client.get(
        f"/api/reports/kpi?from=2027-01-04&to=2027-01-04&group={group}")).json()
    assert [row["group"] for row in body["rows"]] == keys


async def test_kpi_api_exports_csv_with_the_same_rows(client: TestClient[Any, Any]) -> None:
    await login(client, "sup")
    r = await client.get("/api/reports/kpi?from=2027-01-04&to=2027-01-04&group=queue"
                         "&format=csv")
    assert r.headers["Content-Type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert [line["group"] for line in lines] == ["aftersales", "presales", "total"]
    assert set(CONTRACT) <= set(lines[0])
    assert lines[0]["answer_rate"] == "0.5"


async def test_kpi_api_exports_a_real_xlsx_workbook(client: TestClient[Any, Any]) -> None:
    await login(client, "sup")
    r = await client.get("/api/reports/kpi?from=2027-01-04&to=2027-01-04&group=queue"
                         "&format=xlsx")
    data = await r.read()
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
        strings = book.read("xl/sharedStrings.xml").decode()
    assert "aftersales" in strings and "answer_rate" in strings
    assert "<c r=\"B4\"" in sheet  # the first data row's offered


@pytest.mark.parametrize(("who", "status"), [("disp", 403), ("8001", 403), (None, 401)])
@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_only_supervisors_and_admins_read_reports(
        client: TestClient[Any, Any], who: str | None, status: int, method: str,
        path: str) -> None:
    if who is None:
        client.session.cookie_jar.clear()
    else:
        await login(client, who)
    r = await client.request(method, f"{path}?from=2027-01-04&to=2027-01-04",
                             allow_redirects=False,
                             headers={"Accept": "application/json"})
    assert r.status == status


@pytest.mark.parametrize("query", ["from=2027-13-01", "from=2027-01-04&to=2027-01-01",
                                   "from=2027-01-04&group=weekday",
                                   "from=2027-01-04&format=pdf"])
async def test_bad_queries_are_validation_errors(client: TestClient[Any, Any], query: str
                                                 ) -> None:
    await login(client, "sup")
    r = await client.get(f"/api/reports/kpi?{query}")
    assert r.status == 422
    assert (await r.json())["error_id"] == "validation_failed"


async def test_the_page_draws_its_charts_and_drills_down_to_an_agents_calls(
        client: TestClient[Any, Any]) -> None:
    await login(client, "sup")
    html = await (await client.get("/reports?period=day&date=2027-01-04")).text()
    assert html.count("<svg") == 2
    assert "aftersales" in html and "/reports?period=day&amp;date=2027-01-04&amp;queue=" in html
    drill = await (await client.get(
        "/reports?period=day&date=2027-01-04&queue=presales&agent=8002")).text()
    assert "presales" in drill and "answered" in drill
    for kind in ("week", "month"):
        r = await client.get(f"/reports?period={kind}&date=2027-01-04")
        assert r.status == 200


async def test_a_team_lead_sees_the_kpis_of_its_own_team_only(
        client: TestClient[Any, Any]) -> None:
    store = client.app[CTX].store  # type: ignore[index]
    await add_user(store, T0, username="lead", display_name="lead", role=Role.TEAM_LEAD,
                   password="password-1")
    await add_user(store, T0, username="8002", display_name="8002", role=Role.AGENT,
                   password="password-1", agent_number="8002", interface="PJSIP/8002")
    teams = SqlTeamDirectory(store)
    for name in ("lead", "8001"):
        await teams.set_team(name, "A")
    await teams.set_team("8002", "B")
    await login(client, "lead")
    body = await (await client.get(
        "/api/reports/kpi?from=2027-01-04&to=2027-01-04&group=agent")).json()
    assert [r["group"] for r in body["rows"]] == ["8001"]
    body = await (await client.get(
        "/api/reports/kpi?from=2027-01-04&to=2027-01-04&group=queue")).json()
    # the calls the team took: 8001's answered call (8002's presales call, and the call
    # abandoned before any agent, belong to no team)
    assert [(r["group"], r["answered"]) for r in body["rows"]] == [("aftersales", 1)]
    r = await client.get("/api/reports/kpi?from=2027-01-04&to=2027-01-04&agent=8002")
    assert r.status == 403
    r = await client.get("/api/reports/calls?from=2027-01-04&to=2027-01-04&agent=8002")
    assert r.status == 403
    html = await (await client.get("/reports?period=day&date=2027-01-04")).text()
    assert "team-view" in html and ">8002<" not in html
    await login(client, "sup")
    body = await (await client.get(
        "/api/reports/kpi?from=2027-01-04&to=2027-01-04&group=agent")).json()
    assert {r["group"] for r in body["rows"]} >= {"8001", "8002"}
