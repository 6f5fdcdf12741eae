"""The agent desktop's wrap-up API, the dispatcher's board API and pages, through aiohttp's
test client (real sockets on port 0)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from callcenter.business.wrapup import form_from_json
from callcenter.db.models import RecordingRow
from callcenter.db.repositories import Store
from tests.page_scripts import COMMON_JS, assert_loads_common_first, page_scripts

from .conftest import NOW, SECOND_SERIAL, SERIAL, add_call
from .web_env import WebEnv, web_env

REPAIR = {"disposition": "repair", "address": "上海市浦东新区张杨路 100 号",
          "site_phone": "021-5055 1234", "business_hours": "09:00-21:00",
          "contact_person": "王伟", "product_model": "LANDI A8", "terminal_serial": SERIAL,
          "description": "刷卡无反应"}


@pytest.fixture
async def env(sqlite_store: Store) -> AsyncIterator[WebEnv]:
    async with web_env(sqlite_store) as e:
        yield e


async def _wrapup(env: WebEnv, linked_id: str, body: dict[str, Any],
                  user: str = "agent1") -> aiohttp.ClientResponse:
    return await env.client.post(f"/api/calls/{linked_id}/wrapup", json=body,
                                 headers=await env.auth(user))


async def test_agent_gets_the_prefilled_form_with_open_tasks(env: WebEnv) -> None:
    await add_call(env.store, "c1", merchant_id=env.seed.shop.id, caller="13800138000")
    r = await env.client.get("/api/calls/c1/wrapup", headers=await env.auth("agent1"))
    assert r.status == 200
    data = await r.json()
    assert data["suggested_disposition"] == "repair"
    assert data["form"]["site_phone"] == "13800138000"
    assert data["form"]["address"] == env.seed.shop.address
    assert data["terminal_source"] == ""  # two terminals: the agent picks
    assert [t["serial"] for t in data["terminals"]] == [SERIAL, SECOND_SERIAL]
    assert data["requirements"]["installation"]["required"] == [
        "address", "site_phone", "business_hours"]
    assert data["merchant"]["merchant_number"] == env.seed.shop.merchant_number
    assert data["open_tasks"] == [] and data["record"] is None


async def test_wrapup_creates_the_record_and_returns_it(env: WebEnv) -> None:
    await add_call(env.store, "c1", merchant_id=env.seed.shop.id)
    r = await _wrapup(env, "c1", REPAIR)
    assert r.status == 201, await r.text()
    data = await r.json()
    assert data["record"]["task_number"] == "RP20261122-0001"
    assert data["record"]["status"] == "new" and data["record"]["delivery_state"] == "local"
    assert data["record"]["created_local"] == "2026-11-22 10:00"
    assert data["merchant_changes"] == [] and data["linked"] is False
    again = await env.client.get("/api/calls/c1/wrapup", headers=await env.auth("agent1"))
    assert (await again.json())["record"]["task_number"] == "RP20261122-0001"
    r = await _wrapup(env, "c1", REPAIR)
    assert r.status == 409 and (await r.json())["error_id"] == "conflict"


async def test_validation_errors_name_every_field(env: WebEnv) -> None:
    await add_call(env.store, "c1", merchant_id=env.seed.shop.id)
    r = await _wrapup(env, "c1", dict(REPAIR, address="", site_phone="12",
                                      description="坏" * 201))
    assert r.status == 422
    data = await r.json()
    assert data["error_id"] == "validation_failed" and data["field"] == "address"
    assert [e["field"] for e in data["errors"]] == ["address", "description", "site_phone"]
    r = await _wrapup(env, "c1", {"disposition": "repair", "adress": "typo"})
    assert "adress" in [e["field"] for e in (await r.json())["errors"]]
    r = await env.client.post("/api/calls/c1/wrapup", data=b"{not json",
                              headers=await env.auth("agent1"))
    assert r.status == 415 and (await r.json())["field"] == "body"  # not even sent as JSON
    r = await env.client.post("/api/calls/c1/wrapup", data=b"{not json", headers={
        **await env.auth("agent1"), "Content-Type": "application/json"})
    body = await r.json()
    assert r.status == 400 and body["field"] == "body" and body["error_id"] == "bad_json"
    assert (await env.store.calls.get("c1")).disposition is None  # type: ignore[union-attr]


async def test_duplicate_is_offered_then_the_call_is_linked(env: WebEnv) -> None:
    await add_call(env.store, "c1", merchant_id=env.seed.shop.id)
    await _wrapup(env, "c1", REPAIR)
    await add_call(env.store, "c2", merchant_id=env.seed.shop.id, agent="8002")
    form = await (await env.client.get("/api/calls/c2/wrapup",
                                       headers=await env.auth("agent2"))).json()
    assert [(t["task_number"], t["duplicate"]) for t in form["open_tasks"]] == [
        ("RP20261122-0001", True)]
    r = await _wrapup(env, "c2", REPAIR, user="agent2")
    assert r.status == 409
    body = await r.json()
    assert body["error_id"] == "possible_duplicate"
    assert [t["task_number"] for t in body["open_tasks"]] == ["RP20261122-0001"]
    r = await _wrapup(env, "c2", dict(REPAIR, link_task_number="RP20261122-0001"),
                      user="agent2")
    assert r.status == 201
    data = await r.json()
    assert data["linked"] and data["record"]["version"] == 2


async def test_check_shows_the_record_diff_before_saving(env: WebEnv) -> None:
    await add_call(env.store, "c1", merchant_id=env.seed.shop.id)
    r = await env.client.post("/api/calls/c1/wrapup/check", headers=await env.auth("agent1"),
                              json=dict(REPAIR, contact_person="王芳"))
    assert r.status == 200
    assert (await r.json())["merchant_changes"] == [
        {"field": "contact_person", "stored": "王伟", "entered": "王芳"}]
    assert (await env.store.calls.get("c1")).disposition is None  # type: ignore[union-attr]


async def test_only_the_agent_who_took_the_call_records_it(env: WebEnv) -> None:
    await add_call(env.store, "c1", merchant_id=env.seed.shop.id, agent="8001")
    r = await env.client.get("/api/calls/c1/wrapup", headers=await env.auth("agent2"))
    assert r.status == 403 and (await r.json())["error_id"] == "forbidden"
    assert (await _wrapup(env, "c1", REPAIR, user="agent2")).status == 403
    assert (await _wrapup(env, "c1", REPAIR, user="disp")).status == 403
    assert (await env.client.post("/api/calls/c1/wrapup", json=REPAIR)).status == 401
    assert (await _wrapup(env, "nope", REPAIR)).status == 404
    assert (await _wrapup(env, "c1", REPAIR, user="admin")).status == 201


async def test_board_api_filters_and_flags_overdue(env: WebEnv) -> None:
    await add_call(env.store, "old", merchant_id=env.seed.shop.id)
    await env.service.record_wrapup("old", form_from_json(REPAIR), agent_number="8001",
                                    now=NOW - timedelta(hours=4))
    await add_call(env.store, "new", merchant_id=env.seed.other.id)
    await env.service.record_wrapup("new", form_from_json(dict(
        REPAIR, disposition="installation", terminal_serial="")), agent_number="8001", now=NOW)

    async def numbers(query: str) -> list[str]:
        r = await env.client.get("/api/board/tasks" + query, headers=await env.auth("disp"))
        assert r.status == 200, await r.text()
        return [t["task_number"] for t in (await r.json())["tasks"]]

    assert await numbers("") == ["IN20261122-0001", "RP20261122-0001"]
    assert await numbers("?kind=repair") == ["RP20261122-0001"]
    assert await numbers("?district=徐汇区") == ["IN20261122-0001"]
    assert await numbers("?overdue=1") == ["RP20261122-0001"]
    assert await numbers("?min_age_h=3") == ["RP20261122-0001"]
    assert await numbers("?status=accepted") == []
    r = await env.client.get("/api/board/tasks?kind=spaceship", headers=await env.auth("disp"))
    assert r.status == 422 and (await r.json())["field"] == "kind"
    r = await env.client.get("/api/board/tasks", headers=await env.auth("disp"))
    [newer, older] = (await r.json())["tasks"]
    assert older["overdue"] and not newer["overdue"]
    assert older["actions"] == ["accept", "assign", "cancel"]
    assert (await env.client.get("/api/board/tasks", headers=await env.auth("agent1"))).status == 403


async def test_dispatcher_actions_through_the_api(env: WebEnv) -> None:
    await add_call(env.store, "c1", merchant_id=env.seed.shop.id)
    await _wrapup(env, "c1", REPAIR)
    url = "/api/tasks/RP20261122-0001/actions"
    r = await env.client.post(url, json={"action": "assign"}, headers=await env.auth("disp"))
    assert r.status == 422 and (await r.json())["field"] == "engineer"
    r = await env.client.post(url, json={"action": "on_site"}, headers=await env.auth("disp"))
    assert r.status == 409 and (await r.json())["error_id"] == "task_state_conflict"
    r = await env.client.post(url, json={"action": "assign", "engineer": "李工"},
                              headers=await env.auth("disp"))
    assert r.status == 200 and (await r.json())["status"] == "assigned"
    r = await env.client.post(url, json={"action": "appoint",
                                         "appointment_at": "2026-11-23T14:30"},
                              headers=await env.auth("disp"))
    data = await r.json()
    assert data["appointment_at"] == "2026-11-23T06:30:00Z"  # entered in Beijing time
    assert data["appointment_local"] == "2026-11-23 14:30"
    assert env.hub.sent["agent:8001"][-1]["status"] == "appointed"
    r = await env.client.post(url, json={"action": "accept"}, headers=await env.auth("agent1"))
    assert r.status == 403
    r = await env.client.get("/api/tasks/RP20261122-0001", headers=await env.auth("agent1"))
    assert [e["status"] for e in (await r.json())["events"]] == ["new", "assigned",
                                                                 "appointed"]


async def test_board_socket_is_refused_before_the_upgrade_without_a_dispatcher(
        env: WebEnv) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
        await env.client.ws_connect("/ws/board")
    assert exc.value.request_info.url.path == "/login"  # sent to log in, never upgraded
    with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
        await env.client.ws_connect("/ws/board", headers=await env.auth("agent1"))
    assert exc.value.status == 403
    assert env.hub.subscriber_count("board") == 0


async def test_board_socket_pushes_a_new_repair(env: WebEnv) -> None:
    await add_call(env.store, "c1", merchant_id=env.seed.shop.id)
    async with env.client.ws_connect("/ws/board", headers=await env.auth("disp")) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        assert (await _wrapup(env, "c1", REPAIR)).status == 201
        message = await ws.receive_json(timeout=5)
    assert message == {"type": "task", "event": "created", "task_number": "RP20261122-0001",
                       "kind": "repair"}


async def test_pages_render_in_chinese(env: WebEnv) -> None:
    await add_call(env.store, "c1", merchant_id=env.seed.shop.id)
    await _wrapup(env, "c1", REPAIR)
    board = await env.client.get("/board", headers=await env.auth("disp"))
    text = await board.text()
    assert board.status == 200 and "调度台" in text and "RP20261122-0001" in text
    assert "/business/static/board.js" in text
    js = await env.client.get("/business/static/board.js")
    assert js.status == 200 and "WebSocket" in await js.text()
    assert_loads_common_first(text, "/business/static/board.js")
    for path, user in (("/alerts", "sup"), ("/alerts", "disp"), ("/complaints/daily", "sup"),
                       ("/board/tasks/RP20261122-0001", "disp")):
        r = await env.client.get(path, headers=await env.auth(user))
        assert r.status == 200, (path, await r.text())
        sources, inline = page_scripts(await r.text())
        assert inline == [] and sources[0] == COMMON_JS, (path, sources, inline)
    assert (await env.client.get("/board", headers=await env.auth("sup"))).status == 403


async def test_recording_link_only_when_the_call_has_a_recording(env: WebEnv) -> None:
    await add_call(env.store, "c1", merchant_id=env.seed.shop.id)
    await _wrapup(env, "c1", REPAIR)
    page = await (await env.client.get("/board/tasks/RP20261122-0001",
                                       headers=await env.auth("sup"))).text()
    assert "/recordings/" not in page and "暂无录音" in page
    async with env.store.transaction() as s:
        s.add(RecordingRow(token="tok-abc123", linked_id="c1", path="c1.wav",
                           started_at=NOW))
    page = await (await env.client.get("/board/tasks/RP20261122-0001",
                                       headers=await env.auth("sup"))).text()
    assert 'href="/recordings/tok-abc123"' in page and "c1.wav" not in page


async def test_dispatchers_get_no_play_link_they_could_not_follow(env: WebEnv) -> None:
    await add_call(env.store, "c1", merchant_id=env.seed.shop.id)
    await _wrapup(env, "c1", REPAIR)
    async with env.store.transaction() as s:
        s.add(RecordingRow(token="tok-abc123", linked_id="c1", path="c1.wav",
                           started_at=NOW))
    page = await (await env.client.get("/board/tasks/RP20261122-0001",
                                       headers=await env.auth("disp"))).text()
    assert "/recordings/" not in page and "▶" not in page


async def test_complaint_daily_summary_and_escalation_api(env: WebEnv) -> None:
    await add_call(env.store, "k1", merchant_id=env.seed.shop.id)
    await _wrapup(env, "k1", {"disposition": "complaint_1", "description": "到账慢",
                              "handling": "解释清算周期", "result": "满意"})
    await add_call(env.store, "k2", merchant_id=env.seed.shop.id)
    r = await _wrapup(env, "k2", {"disposition": "complaint_2", "description": "媒体已报道",
                                  "media_exposure": True})
    complaint = (await r.json())["complaint"]
    assert complaint["escalation_tier"] == 3 and complaint["class"] == 2
    daily = await env.client.get("/api/complaints/daily?date=2026-11-22",
                                 headers=await env.auth("sup"))
    data = await daily.json()
    assert [c["handling"] for c in data["class_1"]] == ["解释清算周期"]
    assert [c["description"] for c in data["class_2"]] == ["媒体已报道"]
    env.clock.advance(minutes=40)
    alerts = await (await env.client.get("/api/alerts", headers=await env.auth("sup"))).json()
    [escalation] = alerts["complaints"]
    assert escalation["overdue"]
    assert {c["name"]: c["state"] for c in escalation["clocks"]}["report_supervisor"] \
        == "overdue"
    url = f"/api/complaints/{complaint['id']}/actions"
    r = await env.client.post(url, json={"action": "report"}, headers=await env.auth("sup"))
    assert r.status == 200 and (await r.json())["reported_at"] == "2026-11-22T02:40:00Z"
    r = await env.client.post(url, json={"action": "close"}, headers=await env.auth("sup"))
    assert r.status == 422 and (await r.json())["field"] == "text"
    assert (await env.client.post(url, json={"action": "report"},
                                  headers=await env.auth("disp"))).status == 403
