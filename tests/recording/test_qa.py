"""Quality inspection: the rules (sample, sheet, points, summary), then the API: the daily
draw, scoring once, admin corrections as new versions, the agent's answer, summaries and CSV,
and the role matrix of every QA route."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert

from callcenter.db.models import RecordingRow
from callcenter.domain import Role
from callcenter.errors import ValidationError
from callcenter.service import add_user
from callcenter.settings import load_settings
from callcenter.web.app import build_web_app
from recording.qa_rules import (
    HOTLINE_FORM,
    Candidate,
    Scored,
    check_marks,
    draw_sample,
    load_form,
    points_lost,
    record_passed,
    summarise,
)
from recording.web import MODULE

DAY = date(2026, 11, 21)
NOW = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai the next day
ALL_PASS = {c.key: {"pass": True, "comment": ""} for c in HOTLINE_FORM.criteria}


def _calls(agent: str, n: int, queues: tuple[str, ...] = ("aftersales", "techsupport"),
           start_id: int = 0, duration: float = 120.0) -> list[Candidate]:
    return [Candidate(start_id + i, agent, queues[i % len(queues)], 8 + (i * 13) % 12, duration)
            for i in range(n)]


def test_twenty_per_agent_skipping_short_calls() -> None:
    pool = _calls("8001", 50) + _calls("8002", 12, start_id=100) + \
        _calls("8003", 30, start_id=200, duration=10.0)
    draws = draw_sample(pool, reviewers=["sup"], seed="2026-11-21")
    per_agent = {a: sum(1 for d in draws if d.agent_number == a) for a in ("8001", "8002")}
    assert per_agent == {"8001": 20, "8002": 12}
    assert not [d for d in draws if d.agent_number == "8003"]  # all shorter than 30 s


def test_the_sample_is_spread_over_the_day_and_queues_and_reproducible() -> None:
    # 40 morning calls in one queue, 10 afternoon calls in another
    pool = [Candidate(i, "8001", "aftersales", 9, 60.0) for i in range(40)] + \
        [Candidate(100 + i, "8001", "complaints", 15, 60.0) for i in range(10)]
    draws = draw_sample(pool, reviewers=["sup"], seed="d", per_agent=10)
    afternoon = [d for d in draws if d.recording_id >= 100]
    assert len(afternoon) == 5  # half, not the 2 a uniform draw would give
    assert draws == draw_sample(pool, reviewers=["sup"], seed="d", per_agent=10)
    assert draws != draw_sample(pool, reviewers=["sup"], seed="e", per_agent=10)


def test_reviewers_share_the_sample_and_a_redraw_only_tops_up() -> None:
    draws = draw_sample(_calls("8001", 30), reviewers=["lead1", "lead2", "sup"], seed="d")
    assert {r: sum(d.reviewer == r for d in draws) for r in ("lead1", "lead2", "sup")} == {
        "lead1": 7, "lead2": 7, "sup": 6}
    assert len(draw_sample(_calls("8001", 30), reviewers=["sup"], seed="d",
                           already={"8001": 18})) == 2


def test_a_failed_criterion_needs_a_comment_and_fails_the_record() -> None:
    marks = check_marks(HOTLINE_FORM, {**ALL_PASS, "closing": {
        "pass": False, "comment": "未说结束语", "at_s": 61.5}})
    assert not record_passed(marks) and marks["closing"].at_s == 61.5
    assert record_passed(check_marks(HOTLINE_FORM, ALL_PASS))
    with pytest.raises(ValidationError) as exc:
        check_marks(HOTLINE_FORM, {**ALL_PASS, "wording": {"pass": False}})
    assert exc.value.field == "wording"
    with pytest.raises(ValidationError):
        check_marks(HOTLINE_FORM, {k: v for k, v in ALL_PASS.items() if k != "greeting"})


@pytest.mark.parametrize(("failed", "per_point", "points"),
                         [(0, 4, 0), (3, 4, 0), (4, 4, 1), (9, 4, 2), (9, 3, 3)])
def test_every_four_failing_records_cost_one_point(failed: int, per_point: int,
                                                   points: int) -> None:
    assert points_lost(failed, per_point) == points


def test_summary_per_agent_and_team_per_month() -> None:
    at = NOW
    evals = [Scored("8001", at, "2026-11", False, ("closing",)) for _ in range(5)] + \
        [Scored("8001", at, "2026-11", True) for _ in range(15)] + \
        [Scored("8002", at, "2026-11", False, ("wording",), disputed=True) for _ in range(4)]
    lines = summarise(evals)
    got = [(x.agent_number, x.records, x.failed, x.points_lost, x.pass_rate, x.disputed)
           for x in lines]
    assert got == [("8001", 20, 5, 1, 75.0, 0), ("8002", 4, 4, 1, 0.0, 4),
                   ("", 24, 9, 2, 62.5, 4)]
    assert lines[-1].by_criterion == {"closing": 5, "wording": 4}


def test_the_form_is_configuration_with_a_version() -> None:
    form = load_form('version = "v2"\n[[criteria]]\nkey = "greeting"\nzh = "开头语"\n'
                     'en = "Greeting"\n')
    assert form.version == "v2" and [c.key for c in form.criteria] == ["greeting"]
    with pytest.raises(ValueError):
        load_form('version = "v3"\n')


# --------------------------------------------------------------------------- over HTTP


@pytest.fixture
async def qa_env(sqlite_store: Any, tmp_path: Path
                 ) -> AsyncIterator[tuple[TestClient[Any, Any], Any]]:
    store = sqlite_store
    for name, role in (("sup", Role.SUPERVISOR), ("lead", Role.SUPERVISOR),
                       ("disp", Role.DISPATCHER), ("admin", Role.ADMIN)):
        await add_user(store, NOW, username=name, display_name=name, role=role,
                       password="password-1")
    for number in ("8001", "8002"):
        await add_user(store, NOW, username=number, display_name=number, role=Role.AGENT,
                       password="password-1", agent_number=number, interface=f"PJSIP/{number}")
    async with store.transaction() as s:
        for i in range(30):  # 8001: 25 calls, 8002: 5, over the local day of DAY
            agent = "8001" if i < 25 else "8002"
            started = datetime(2026, 11, 21, 0, 30, tzinfo=UTC) + timedelta(minutes=30 * i)
            await s.execute(insert(RecordingRow).values(
                token=f"tok{i:02d}" + "x" * 20, linked_id=f"1795{i:02d}.0", path=f"{i}.wav",
                started_at=started, ended_at=started + timedelta(minutes=2), stage="stored",
                stored_path=f"{i}.ogg", codec="opus", duration_s=120.0 if i != 3 else 5.0,
                agent_number=agent, queue="aftersales" if i % 2 else "techsupport"))
    settings = load_settings(environ={"CALLCENTER_RECORDING_DIR": str(tmp_path),
                                      "CALLCENTER_RECORDING_KEYS": "k:" + base64.b64encode(
                                          bytes(32)).decode()})
    app = build_web_app(settings, store, modules=[MODULE], clock=lambda: NOW.timestamp())
    async with TestClient(TestServer(app)) as client:
        yield client, store


async def _as(client: TestClient[Any, Any], username: str | None) -> None:
    client.session.cookie_jar.clear()
    if username is not None:
        r = await client.post("/login", data={"username": username,
                                              "password": "password-1"},
                              allow_redirects=False)
        assert r.status == 302


async def _draw_and_score(client: TestClient[Any, Any]) -> tuple[list[dict[str, Any]], int]:
    await _as(client, "sup")
    drawn = await (await client.post("/api/qa/draw", json={"day": DAY.isoformat()})).json()
    assert drawn == {"day": "2026-11-21", "drawn": 25}  # 20 of 8001 (one too short) + 5
    mine = (await (await client.get("/api/qa/assignments")).json())["items"]
    assert len(mine) == 12 and {a["reviewer"] for a in mine} == {"sup"}
    target = next(a for a in mine if a["agent"] == "8001")
    marks = {**ALL_PASS, "greeting": {"pass": False, "comment": "没有报工号", "at_s": 1.5}}
    r = await client.post(f"/api/qa/assignments/{target['id']}/review",
                          json={"marks": marks, "comment": "开头语不规范"})
    assert r.status == 201
    review = await r.json()
    assert review["passed"] is False and review["version"] == 1
    assert review["form_version"] == HOTLINE_FORM.version
    return mine, review["id"]


async def test_draw_assign_score_once_then_the_agent_sees_and_answers(qa_env: Any) -> None:
    client, _ = qa_env
    mine, review_id = await _draw_and_score(client)
    again = await client.post("/api/qa/draw", json={"day": DAY.isoformat()})
    assert (await again.json())["drawn"] == 0  # idempotent
    target = next(a for a in mine if a["agent"] == "8001")
    second = await client.post(f"/api/qa/assignments/{target['id']}/review",
                               json={"marks": ALL_PASS})
    assert second.status == 409  # never edited
    others = next(a for a in (await (await client.get(
        "/api/qa/assignments?reviewer=lead")).json())["items"] if a["reviewer"] == "sup")
    assert others  # a supervisor's list is their own whatever they ask
    await _as(client, "lead")
    lead_items = (await (await client.get("/api/qa/assignments")).json())["items"]
    r = await client.post(f"/api/qa/assignments/{target['id']}/review",
                          json={"marks": ALL_PASS})
    assert len(lead_items) == 13 and r.status in (403, 409)

    await _as(client, "8002")
    assert (await (await client.get("/api/qa/reviews")).json())["items"] == []
    r = await client.post(f"/api/qa/reviews/{review_id}/answer", json={"answer":
                                                                       "acknowledged"})
    assert r.status == 403
    await _as(client, "8001")
    items = (await (await client.get("/api/qa/reviews")).json())["items"]
    assert [i["id"] for i in items] == [review_id]
    assert items[0]["marks"]["greeting"] == {"pass": False, "comment": "没有报工号", "at_s": 1.5}
    bad = await client.post(f"/api/qa/reviews/{review_id}/answer", json={"answer": "disputed"})
    assert bad.status == 422  # a dispute needs a reason
    ok = await client.post(f"/api/qa/reviews/{review_id}/answer",
                           json={"answer": "disputed", "note": "录音开头被截断"})
    assert (await ok.json())["agent_answer"] == "disputed"


async def test_an_admin_correction_is_a_new_audited_version(qa_env: Any) -> None:
    client, _ = qa_env
    _, review_id = await _draw_and_score(client)
    await _as(client, "sup")
    r = await client.post(f"/api/qa/reviews/{review_id}/correction", json={
        "marks": ALL_PASS, "reason": "x"})
    assert r.status == 403
    await _as(client, "admin")
    r = await client.post(f"/api/qa/reviews/{review_id}/correction", json={"marks": ALL_PASS})
    assert r.status == 422
    r = await client.post(f"/api/qa/reviews/{review_id}/correction", json={
        "marks": ALL_PASS, "reason": "申诉成立：开头被截断"})
    corrected = await r.json()
    assert (corrected["version"], corrected["supersedes_id"], corrected["reviewer"],
            corrected["passed"]) == (2, review_id, "admin", True)
    again = await client.post(f"/api/qa/reviews/{review_id}/correction", json={
        "marks": ALL_PASS, "reason": "again"})
    assert again.status == 409
    history = (await (await client.get("/api/qa/reviews?agent=8001&history=1")).json())
    assert [(i["version"], i["superseded"]) for i in history["items"]] == [(2, False),
                                                                          (1, True)]
    await _as(client, "8001")
    current = (await (await client.get("/api/qa/reviews")).json())["items"]
    assert [i["version"] for i in current] == [2]


async def test_summary_and_csv_export(qa_env: Any) -> None:
    client, _ = qa_env
    await _draw_and_score(client)
    body = await (await client.get("/api/qa/summary?month=2026-11")).json()
    assert body["lines"][0] == {"agent": "8001", "records": 1, "failed": 1, "pass_rate": 0.0,
                                "disputed": 0, "points_lost": 0,
                                "by_criterion": {"greeting": 1}}
    csv_response = await client.get("/api/qa/summary?month=2026-11&format=csv")
    text = (await csv_response.read()).decode("utf-8-sig")
    assert csv_response.headers["Content-Type"].startswith("text/csv")
    assert text.splitlines()[0].startswith("month,agent,records,failed,pass_rate")
    assert "2026-11,TEAM,1,1,0.0,0,0,1,0,0,0,0" in text
    assert (await client.get("/api/qa/summary?month=nov")).status == 422


async def test_the_player_detail_carries_the_reviewers_sheet(qa_env: Any) -> None:
    client, _ = qa_env
    mine, _ = await _draw_and_score(client)
    open_one = next(a for a in mine if a["agent"] == "8002")
    body = await (await client.get(f"/api/recordings/{open_one['token']}")).json()
    assert [a["id"] for a in body["qa"]["assignments"]] == [open_one["id"]]
    assert [c["key"] for c in body["qa"]["form"]["criteria"]] == [
        "greeting", "closing", "attitude", "wording", "knowledge"]


QA_ROUTES = [
    ("GET", "/qa", {None: 302, "disp": 403, "8001": 200, "sup": 200, "admin": 200}),
    ("GET", "/api/qa/form", {None: 401, "disp": 403, "8001": 200, "sup": 200, "admin": 200}),
    ("GET", "/api/qa/assignments", {None: 401, "disp": 403, "8001": 403, "sup": 200,
                                    "admin": 200}),
    ("POST", "/api/qa/draw", {None: 401, "disp": 403, "8001": 403, "sup": 200, "admin": 200}),
    ("POST", "/api/qa/assignments/1/review", {None: 401, "disp": 403, "8001": 403}),
    ("GET", "/api/qa/reviews", {None: 401, "disp": 403, "8001": 200, "sup": 200,
                                "admin": 200}),
    ("POST", "/api/qa/reviews/1/answer", {None: 401, "disp": 403, "sup": 403}),
    ("POST", "/api/qa/reviews/1/correction", {None: 401, "disp": 403, "8001": 403,
                                              "sup": 403}),
    ("GET", "/api/qa/summary", {None: 401, "disp": 403, "8001": 403, "sup": 200,
                                "admin": 200}),
]


@pytest.mark.parametrize(("method", "path", "matrix"), QA_ROUTES,
                         ids=[f"{m} {p}" for m, p, _ in QA_ROUTES])
async def test_qa_route_role_matrix(qa_env: Any, method: str, path: str,
                                    matrix: dict[str | None, int]) -> None:
    client, _ = qa_env
    for who, status in matrix.items():
        await _as(client, who)
        r = await client.request(method, path, json={} if method == "POST" else None,
                                 allow_redirects=False)
        assert r.status == status, (who, method, path)


async def test_search_finds_recordings_by_qa_state(qa_env: Any) -> None:
    client, _ = qa_env
    await _draw_and_score(client)
    scored = (await (await client.get("/api/recordings?qa=scored")).json())["items"]
    assert len(scored) == 1 and scored[0]["qa"] == "scored"
    assigned = (await (await client.get("/api/recordings?qa=assigned&limit=200")).json())
    assert len(assigned["items"]) == 24
    none = (await (await client.get("/api/recordings?qa=none")).json())["items"]
    assert len(none) == 5  # the too-short call and 8001's calls beyond the 20 drawn


async def test_the_daily_job_draws_yesterday_on_its_clock(qa_env: Any) -> None:
    from zoneinfo import ZoneInfo

    from callcenter.qa_directory import StoreQa
    from recording.qa_draw import QaDrawJob
    _, store = qa_env
    job = QaDrawJob(StoreQa(store), ZoneInfo("Asia/Shanghai"), lambda: NOW, per_agent=3,
                    min_seconds=30.0)
    assert await job.run_once() == 6  # 3 each for 8001 and 8002 on 2026-11-21 (local)
    assert await job.run_once() == 0
