"""Issue 13, business API: agents read only their own tasks, cross-site requests are refused,
hostile input is a 4xx (never a 500), appointments in the past are refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from callcenter.business.business_protocol import SIGNATURE_HEADER, sign
from callcenter.db.repositories import Store

from .conftest import add_call
from .test_web_api import REPAIR
from .web_env import BUSINESS_SECRET, WebEnv, web_env

DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"action": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.fixture
async def env(sqlite_store: Store) -> AsyncIterator[WebEnv]:
    async with web_env(sqlite_store) as e:
        yield e


async def _task_of_agent1(env: WebEnv) -> str:
    await add_call(env.store, "c1", merchant_id=env.seed.shop.id, agent="8001")
    r = await env.client.post("/api/calls/c1/wrapup", json=REPAIR,
                              headers=await env.auth("agent1"))
    assert r.status == 201, await r.text()
    return str((await r.json())["record"]["task_number"])


async def _json_post(env: WebEnv, path: str, user: str, body: bytes,
                     **headers: str) -> tuple[int, dict[str, Any]]:
    r = await env.client.post(path, data=body, headers={
        **await env.auth(user), "Content-Type": "application/json", **headers})
    return r.status, await r.json()


async def test_an_agent_reads_the_tasks_of_their_own_calls_only(env: WebEnv) -> None:
    number = await _task_of_agent1(env)
    own = await env.client.get(f"/api/tasks/{number}", headers=await env.auth("agent1"))
    assert own.status == 200
    other = await env.client.get(f"/api/tasks/{number}", headers=await env.auth("agent2"))
    body = await other.json()
    assert other.status == 403 and body["error_id"] == "forbidden"
    assert "site_phone" not in json.dumps(body)
    for staff in ("disp", "sup", "admin"):
        r = await env.client.get(f"/api/tasks/{number}", headers=await env.auth(staff))
        assert r.status == 200, staff


async def test_an_agent_whose_call_joined_a_task_may_read_it(env: WebEnv) -> None:
    number = await _task_of_agent1(env)
    await add_call(env.store, "c2", merchant_id=env.seed.shop.id, agent="8002")
    before = await env.client.get(f"/api/tasks/{number}", headers=await env.auth("agent2"))
    assert before.status == 403
    r = await env.client.post("/api/calls/c2/wrapup", json={
        **REPAIR, "link_task_number": number}, headers=await env.auth("agent2"))
    assert r.status == 201, await r.text()
    r = await env.client.get(f"/api/tasks/{number}", headers=await env.auth("agent2"))
    assert r.status == 200


async def test_a_post_from_another_origin_is_refused_before_it_acts(env: WebEnv) -> None:
    number = await _task_of_agent1(env)
    url = f"/api/tasks/{number}/actions"
    for origin in ("http://127.0.0.1:9999", "null", "http://evil.example"):
        r = await env.client.post(url, json={"action": "cancel", "reason": "x"},
                                  headers={**await env.auth("disp"), "Origin": origin})
        body = await r.json()
        assert r.status == 403 and body["error_id"] == "foreign_origin", origin
    r = await env.client.post(url, json={"action": "cancel", "reason": "x"},
                              headers={**await env.auth("disp"), "Sec-Fetch-Site": "cross-site"})
    assert r.status == 403
    detail = await env.service.detail(number)
    assert detail.view.task.status.value == "new"  # nothing happened
    same = f"http://{env.client.host}:{env.client.port}"
    r = await env.client.post(url, json={"action": "cancel", "reason": "duplicate"},
                              headers={**await env.auth("disp"), "Origin": same})
    assert r.status == 200, await r.text()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", ""])
async def test_state_changing_api_requests_must_be_json(env: WebEnv, content_type: str) -> None:
    number = await _task_of_agent1(env)
    for path, user in ((f"/api/tasks/{number}/actions", "disp"),
                       ("/api/calls/c1/wrapup/check", "agent1"),
                       ("/api/complaints/1/actions", "sup"), ("/api/outbox/1/requeue", "disp")):
        headers = {**await env.auth(user)}
        if content_type:
            headers["Content-Type"] = content_type
        r = await env.client.post(path, data=b'{"action": "cancel", "reason": "x"}',
                                  headers=headers)
        assert r.status == 415, (path, r.status)
        assert (await r.json())["error_id"] == "json_required"


async def test_the_board_socket_refuses_a_foreign_origin(env: WebEnv) -> None:
    r = await env.client.get("/ws/board", headers={
        **await env.auth("disp"), "Origin": "http://127.0.0.1:9999", "Connection": "Upgrade",
        "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert r.status == 403


async def test_deeply_nested_and_broken_bodies_are_400(env: WebEnv) -> None:
    number = await _task_of_agent1(env)
    await add_call(env.store, "c3", merchant_id=env.seed.shop.id, agent="8001")
    for path, user in ((f"/api/tasks/{number}/actions", "disp"),
                       ("/api/calls/c3/wrapup/check", "agent1"),
                       ("/api/calls/c3/wrapup", "agent1"),
                       ("/api/complaints/1/actions", "sup")):
        for body in (DEEP, DEEP_OBJECT, b"\xff\xfe", b'{"a": '):
            status, data = await _json_post(env, path, user, body)
            assert status == 400 and data["error_id"] == "bad_json", (path, status, data)


async def test_bodies_are_read_whole_up_to_the_limit_and_refused_beyond(env: WebEnv) -> None:
    await add_call(env.store, "c4", merchant_id=env.seed.shop.id, agent="8001")
    big = json.dumps({**REPAIR, "description": "坏" * 60_000}, ensure_ascii=False).encode()
    status, data = await _json_post(env, "/api/calls/c4/wrapup/check", "agent1", big)
    assert status == 422 and data["field"] == "description"  # parsed, then a rule refused it
    huge = json.dumps({**REPAIR, "description": "x" * 300_000}).encode()
    status, data = await _json_post(env, "/api/calls/c4/wrapup/check", "agent1", huge)
    assert status == 400 and data["error_id"] == "bad_json" and "larger" in data["message"]


async def test_impossible_and_past_appointments_are_refused(env: WebEnv) -> None:
    number = await _task_of_agent1(env)
    url = f"/api/tasks/{number}/actions"
    r = await env.client.post(url, json={"action": "assign", "engineer": "张工"},
                              headers=await env.auth("disp"))
    assert r.status == 200, await r.text()
    for when in ("0001-01-01T00:00", "9999-12-31T23:59", "0001-01-01T00:00+14:00",
                 "2026-11-21T09:00"):
        r = await env.client.post(url, json={"action": "appoint", "appointment_at": when},
                                  headers=await env.auth("disp"))
        body = await r.json()
        assert r.status == 422 and body["field"] == "appointment_at", (when, body)
    r = await env.client.post(url, json={"action": "appoint",
                                         "appointment_at": "2026-11-23T14:30"},
                              headers=await env.auth("disp"))
    assert r.status == 200, await r.text()


async def test_a_daily_summary_of_year_one_is_422(env: WebEnv) -> None:
    for day in ("0001-01-01", "9999-12-31"):
        r = await env.client.get(f"/api/complaints/daily?date={day}",
                                 headers=await env.auth("sup"))
        assert r.status == 422 and (await r.json())["field"] == "date"
        page = await env.client.get(f"/complaints/daily?date={day}",
                                    headers=await env.auth("sup"))
        assert page.status == 422


async def test_the_signed_webhook_refuses_year_one_and_deep_bodies(sqlite_store: Store) -> None:
    async with web_env(sqlite_store, external=True) as env:
        base = {"event_id": "e1", "task_number": "RP20261122-0001", "status": "accepted",
                "occurred_at": "2026-11-22T10:00:00+08:00"}
        for body in (json.dumps({**base, "occurred_at": "0001-01-01T00:00:00+08:00"}).encode(),
                     json.dumps({**base, "appointment_at": "0001-01-01T00:00+01:00"}).encode(),
                     DEEP, DEEP_OBJECT):
            r = await env.client.post("/api/business/webhook", data=body, headers={
                SIGNATURE_HEADER: sign(BUSINESS_SECRET, body),
                "Content-Type": "application/json"})
            assert 400 <= r.status < 500, (body[:60], r.status)
            assert "error_id" in await r.json()
