"""Forced log-out is all or nothing, and the supervisor is told what happened: agent 8001 of
the real capture 04 is in aftersales and presales, paused for training; when Asterisk refuses
the QueueRemove of presales, aftersales (already left) is added back, paused as it was, and
the answer names the queue that failed and what was put back. Audited either way."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.cti_directory import StoreCtiDirectory
from callcenter.db.repositories import Store
from callcenter.domain import Role
from callcenter.settings import load_settings
from callcenter.supervision_store import StoreDayCalls
from callcenter.web.app import build_web_app
from callcenter.web.hub import Hub
from cti.service import CtiService
from supervision.service import SupervisionService
from supervision.web import web_module
from tests.cti import test_service
from tests.cti.test_desktop_browser import events
from tests.cti.test_service import NOW, password_hash, seed
from tests.fakes.ami_actions import FakeAmiActions
from tests.web_sessions import session_headers

template_db = test_service.template_db
cti_store = test_service.cti_store

AGENT = "Local/8001@agents/n"
REFUSED = "Unable to remove interface: Member not dynamic"  # asterisk-notes: static member


@dataclass
class ControlEnv:
    client: TestClient[Any, Any]
    ami: FakeAmiActions
    store: Store
    headers: dict[str, str]


@pytest.fixture
async def env(cti_store: Store) -> AsyncIterator[ControlEnv]:
    await seed(cti_store)
    boss = await cti_store.users.add("boss", "王班长", Role.SUPERVISOR, password_hash(), NOW)
    hub = Hub()
    ami = FakeAmiActions()
    service = CtiService(StoreCtiDirectory(cti_store), hub, clock=time.time)
    service.attach(ami)
    await service.start()
    # Capture 04 up to 8001 paused (training) in both of its queues.
    for message, at in events("04-pause-unpause-with-reason-and-logoff.ami"):
        service.on_message(message, at)
        if message.name == "QueueMemberPause" and message.get("Interface") == AGENT \
                and message.get("Queue") == "aftersales":
            break
    agent = service.dispatcher.state.agents.agents[AGENT]
    assert agent.memberships == {"aftersales": True, "presales": True}
    supervision = SupervisionService(service, StoreDayCalls(cti_store), hub)
    settings = load_settings(environ={"CALLCENTER_WEB_SESSION_SECRET": "control"})
    app = build_web_app(settings, cti_store, modules=[web_module(supervision)], hub=hub)
    try:
        async with TestClient(TestServer(app)) as client:
            yield ControlEnv(client, ami, cti_store,
                             await session_headers(cti_store, boss.id, datetime.now(UTC)))
    finally:
        await service.stop()


def sent(ami: FakeAmiActions) -> list[tuple[str, str]]:
    return [(a, h.get("Queue", "")) for a, h in ami.sent if a in ("QueueRemove", "QueueAdd")]


async def test_a_refused_removal_puts_the_agent_back_and_says_which_queue(env: ControlEnv
                                                                          ) -> None:
    env.ami.remove_errors["presales"] = REFUSED
    r = await env.client.post("/api/supervisor/agents/8001/logout", json={},
                              headers=env.headers)
    assert r.status == 409
    body = await r.json()
    assert (body["error_id"], body["failed_queue"], body["restored"], body["not_restored"]) \
        == ("logout_failed", "presales", ["aftersales"], [])
    assert "presales" in body["message"] and "Member not dynamic" in body["cause"]
    assert sent(env.ami) == [("QueueRemove", "aftersales"), ("QueueRemove", "presales"),
                             ("QueueAdd", "aftersales")]
    [(_a, readd)] = [(a, h) for a, h in env.ami.sent if a == "QueueAdd"]
    assert (readd["Interface"], readd["Paused"], readd["Reason"]) == (AGENT, "true", "training")
    [entry] = await env.store.audit.recent(action="agent.force_logout")
    assert entry.actor == "boss" and entry.target == "8001"
    assert entry.details["outcome"] == "failed" and entry.details["failed_queue"] == "presales"


async def test_when_putting_back_fails_too_the_answer_says_where(env: ControlEnv) -> None:
    env.ami.remove_errors["presales"] = REFUSED
    env.ami.queue_errors["aftersales"] = "Unable to add interface to queue: No such queue"
    r = await env.client.post("/api/supervisor/agents/8001/logout", json={},
                              headers=env.headers)
    assert r.status == 409
    body = await r.json()
    assert (body["failed_queue"], body["restored"], body["not_restored"]) == (
        "presales", [], ["aftersales"])
    assert "could not be put back in aftersales" in body["message"]


async def test_a_log_out_that_succeeds_leaves_every_queue_once(env: ControlEnv) -> None:
    r = await env.client.post("/api/supervisor/agents/8001/logout", json={},
                              headers=env.headers)
    assert r.status == 200, await r.text()
    assert (await r.json())["queues"] == ["aftersales", "presales"]
    assert sent(env.ami) == [("QueueRemove", "aftersales"), ("QueueRemove", "presales")]
    [entry] = await env.store.audit.recent(action="agent.force_logout")
    assert "outcome" not in entry.details
