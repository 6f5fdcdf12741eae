"""The signed webhook where the business system reports status changes: signatures, unknown
tasks, replays (also concurrent, on both backends), and who hears about the change."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from callcenter.business.business_protocol import WebhookEvent, sign, webhook_body
from callcenter.db.models import TaskEventRow, WebhookEventRow
from callcenter.db.repositories import Store
from callcenter.domain import TaskStatus

from .conftest import NOW, add_call, repair_form
from .web_env import WebEnv, web_env

URL = "/api/business/webhook"


@asynccontextmanager
async def with_repair(store: Store) -> AsyncIterator[WebEnv]:
    async with web_env(store, external=True) as e:
        await add_call(e.store, "c1", merchant_id=e.seed.shop.id, agent="8001")
        await e.service.record_wrapup("c1", repair_form(), agent_number="8001", now=NOW)
        yield e


@pytest.fixture
async def env(sqlite_store: Store) -> AsyncIterator[WebEnv]:
    """SQLite: signatures and parsing do not depend on the backend."""
    async with with_repair(sqlite_store) as e:
        yield e


@pytest.fixture
async def env_both(store: Store) -> AsyncIterator[WebEnv]:
    """SQLite and PostgreSQL: what the database's unique keys and locks decide."""
    async with with_repair(store) as e:
        yield e


def event(event_id: str = "bs-1", status: TaskStatus = TaskStatus.ASSIGNED,
          number: str = "RP20261122-0001", **extra: object) -> bytes:
    return webhook_body(WebhookEvent(event_id, number, status,
                                     NOW + timedelta(minutes=10), **extra))  # type: ignore[arg-type]


async def _events(store: Store) -> int:
    async with store.transaction() as s:
        return int(await s.scalar(select(func.count()).select_from(TaskEventRow)) or 0)


@pytest.mark.parametrize("signature", [None, "sha256=00", sign("wrong-secret", event()),
                                       sign("s3cret", event() + b" ")],
                         ids=["missing", "garbage", "other-secret", "other-body"])
async def test_bad_signature_is_401(env: WebEnv, signature: str | None) -> None:
    headers = {"Content-Type": "application/json"}
    if signature:
        headers["X-Callcenter-Signature"] = signature
    r = await env.client.post(URL, data=event(), headers=headers)
    assert r.status == 401 and (await r.json())["error_id"] == "bad_signature"
    task = await env.service.repo.find_task("RP20261122-0001")
    assert task is not None and task.status is TaskStatus.NEW


async def test_unknown_task_is_404_and_may_be_sent_again_later(env: WebEnv) -> None:
    body = event(number="RP20261122-0099")
    r = await env.client.post(URL, data=body, headers=env.signed(body))
    assert r.status == 404 and (await r.json())["error_id"] == "unknown_task"
    async with env.store.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(WebhookEventRow)) == 0


async def test_malformed_event_names_the_field(env: WebEnv) -> None:
    body = b'{"event_id":"e","task_number":"RP20261122-0001","status":"exploded",' \
           b'"occurred_at":"2026-11-22T02:00:00Z"}'
    r = await env.client.post(URL, data=body, headers=env.signed(body))
    assert r.status == 422 and (await r.json())["field"] == "status"


async def test_status_change_reaches_agent_board_and_ivr(env_both: WebEnv) -> None:
    env = env_both
    env.clock.advance(minutes=15)  # the event happened 10 minutes in, reported at 15
    body = event(engineer="李工", external_id="BMS-778")
    r = await env.client.post(URL, data=body, headers=env.signed(body))
    assert r.status == 200
    assert await r.json() == {"event_id": "bs-1", "task_number": "RP20261122-0001",
                              "applied": True, "duplicate": False, "status": "assigned"}
    [message] = env.hub.sent["agent:8001"]
    assert message["type"] == "task_status" and message["status"] == "assigned"
    assert message["engineer"] == "李工" and message["merchant_name"] == "鑫源便利店"
    assert env.hub.sent["board"][-1]["status"] == "assigned"
    latest = await env.store.tasks.latest_open(env.seed.shop.id)
    assert latest is not None and (latest.status, latest.engineer, latest.external_id) == (
        TaskStatus.ASSIGNED, "李工", "BMS-778")
    detail = await env.service.detail("RP20261122-0001")
    last = detail.events[-1]
    assert (last.actor, last.source_event_id, last.at) == (
        "business_system", "bs-1", NOW + timedelta(minutes=10))


async def test_a_replayed_event_has_no_second_effect(env_both: WebEnv) -> None:
    env = env_both
    body = event()
    first = await env.client.post(URL, data=body, headers=env.signed(body))
    assert (await first.json())["applied"]
    before = (await env.service.repo.find_task("RP20261122-0001"), await _events(env.store))
    again = await env.client.post(URL, data=body, headers=env.signed(body))
    assert again.status == 200
    assert (await again.json())["duplicate"] is True
    assert (await env.service.repo.find_task("RP20261122-0001"), await _events(env.store)) == before
    assert len(env.hub.sent["agent:8001"]) == 1


async def test_concurrent_copies_of_one_event_apply_once(env_both: WebEnv) -> None:
    env = env_both
    body = event(status=TaskStatus.ACCEPTED)
    responses = await asyncio.gather(*(env.client.post(URL, data=body,
                                                       headers=env.signed(body))
                                       for _ in range(4)))
    results = [await r.json() for r in responses]
    assert all(r.status == 200 for r in responses)
    assert sorted(r["duplicate"] for r in results) == [False, True, True, True]
    task = await env.service.repo.find_task("RP20261122-0001")
    assert task is not None and (task.status, task.version) == (TaskStatus.ACCEPTED, 2)
    assert await _events(env.store) == 2  # "new" + one "accepted"


async def test_a_late_event_does_not_move_the_task_back(env: WebEnv) -> None:
    for event_id, status in (("e1", TaskStatus.ON_SITE), ("e2", TaskStatus.ACCEPTED)):
        body = event(event_id, status)
        r = await env.client.post(URL, data=body, headers=env.signed(body))
        assert r.status == 200
    assert (await r.json())["applied"] is False
    task = await env.service.repo.find_task("RP20261122-0001")
    assert task is not None and task.status is TaskStatus.ON_SITE
    detail = await env.service.detail("RP20261122-0001")
    assert detail.events[-1].note == "过时事件：报告 已受理，当前 已上门，未改变"


async def test_without_a_shared_secret_every_webhook_is_refused(sqlite_store: Store) -> None:
    async with web_env(sqlite_store, external=True, business_secret="") as e:
        body = event()
        r = await e.client.post(URL, data=body, headers={
            "X-Callcenter-Signature": sign("", body)})
        assert r.status == 401
        assert "business.secret is not set" in (await r.json())["message"]


async def test_without_a_business_system_the_webhook_is_a_conflict(sqlite_store: Store) -> None:
    async with web_env(sqlite_store, external=False) as e:
        body = event()
        r = await e.client.post(URL, data=body, headers=e.signed(body))
        assert r.status == 409 and "system of record" in (await r.json())["message"]
