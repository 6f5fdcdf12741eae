"""The agent desktop over HTTP and WebSocket, through aiohttp's test client.

The web app is the product's own (``build_web_app``) with the CTI module and a real Hub; the
service gets a fake AmiActions (tests/cti/test_service.py) and AMI events are fed to it the way
the AMI client does (``service.on_message``), from the Asterisk 22 captures.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.cti_directory import StoreCtiDirectory
from callcenter.db.repositories import Store
from callcenter.domain import Role
from callcenter.service import disable_user
from callcenter.settings import load_settings
from callcenter.web.app import CTX, SESSION_ENDED, build_web_app, sweep_session_sockets
from callcenter.web.hub import Hub
from cti.ami_protocol import AmiMessage
from cti.service import CtiService
from cti.web import web_module
from tests.cti import test_service
from tests.cti.test_service import BASE, NOW, first_event, lab, password_hash, seed
from tests.fakes.ami_actions import FakeAmiActions
from tests.page_scripts import assert_loads_common_first
from tests.web_sessions import session_headers

# The migrated-database fixtures of test_service (a copied template per test).
template_db = test_service.template_db
cti_store = test_service.cti_store

SECRET = "test-secret"
SCENARIO_01 = "01-agent-login-and-answered-call.ami"


@dataclass
class WebEnv:
    client: TestClient[Any, Any]
    service: CtiService
    ami: FakeAmiActions
    users: dict[str, int]

    store: Store

    async def cookie(self, username: str) -> dict[str, str]:
        return await session_headers(self.store, self.users[username], datetime.now(UTC))


async def make_env(store: Store, *, ami: FakeAmiActions | None) -> AsyncIterator[WebEnv]:
    await seed(store)
    disp = await store.users.add("disp", "吴调度", Role.DISPATCHER, password_hash(), NOW)
    users = {u.username: u.id for u in await store.users.list()}
    users["disp"] = disp.id
    hub = Hub()
    service = CtiService(StoreCtiDirectory(store), hub, clock=time.time)
    service.attach(ami)
    await service.start()
    settings = load_settings(environ={"CALLCENTER_WEB_SESSION_SECRET": SECRET})
    app = build_web_app(settings, store, modules=[web_module(service)], hub=hub)
    try:
        async with TestClient(TestServer(app)) as client:
            yield WebEnv(client, service, ami or FakeAmiActions(), users, store)
    finally:
        await service.stop()


@pytest.fixture
async def env(cti_store: Store) -> AsyncIterator[WebEnv]:
    async for e in make_env(cti_store, ami=FakeAmiActions()):
        yield e


def pause_event(agent: str, reason: str = "lunch") -> AmiMessage:
    return AmiMessage(
        "Event: QueueMemberPause\r\nPrivilege: agent,all\r\nQueue: aftersales\r\n"
        f"MemberName: Agent {agent}\r\nInterface: {lab(agent)}\r\nStateInterface: {lab(agent)}"
        "\r\nMembership: dynamic\r\nPenalty: 0\r\nCallsTaken: 0\r\nLastCall: 0\r\nInCall: 0\r\n"
        f"Status: 1\r\nPaused: 1\r\nPausedReason: {reason}")


def member_added(agent: str) -> AmiMessage:
    return AmiMessage(
        "Event: QueueMemberAdded\r\nPrivilege: agent,all\r\nQueue: aftersales\r\n"
        f"MemberName: Agent {agent}\r\nInterface: {lab(agent)}\r\nStateInterface: {lab(agent)}"
        "\r\nMembership: dynamic\r\nPenalty: 0\r\nCallsTaken: 0\r\nLastCall: 0\r\nInCall: 0\r\n"
        "Status: 1\r\nPaused: 0\r\nPausedReason: ")


# --------------------------------------------------------------------------- WebSocket


async def test_websocket_upgrade_without_a_session_is_refused_with_401(env: WebEnv) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await env.client.ws_connect("/ws/agent")
    assert refused.value.status == 401


async def test_websocket_upgrade_for_another_role_or_origin_is_refused_with_403(
        env: WebEnv) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as other_role:
        await env.client.ws_connect("/ws/agent", headers=await env.cookie("disp"))
    assert other_role.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as foreign:
        await env.client.ws_connect("/ws/agent", headers={
            **await env.cookie("8001"), "Origin": "http://evil.example"})
    assert foreign.value.status == 403


async def test_an_admin_acting_as_an_agent_is_audited(env: WebEnv) -> None:
    boss = await env.store.users.add("boss", "管理员", Role.ADMIN, password_hash(), NOW)
    env.users["boss"] = boss.id
    page = await env.client.get("/desk?agent=8002", headers=await env.cookie("boss"))
    assert page.status == 200
    env.service.on_message(member_added("8002"), BASE + 0.5)
    r = await env.client.post("/api/agent/pause?agent=8002", json={"reason": "lunch"},
                              headers=await env.cookie("boss"))
    assert r.status == 200, await r.text()
    entries = await env.store.audit.recent(action="impersonate")
    assert [(e.actor, e.target, e.details["path"]) for e in reversed(entries)] == [
        ("boss", "8002", "/desk"), ("boss", "8002", "/api/agent/pause")]
    own = await env.client.get("/desk", headers=await env.cookie("8001"))
    assert own.status == 200 and len(await env.store.audit.recent()) == 2  # not an agent's


async def test_logout_closes_the_sessions_open_desktop(env: WebEnv) -> None:
    cookie = await env.cookie("8001")
    other = await env.client.ws_connect("/ws/agent", headers=await env.cookie("8001"))
    ws = await env.client.ws_connect("/ws/agent", headers=cookie)
    assert (await ws.receive_json())["type"] == "hello"
    await other.receive_json()
    r = await env.client.post("/logout", headers=cookie, allow_redirects=False)
    assert r.status == 302
    closed = await ws.receive(timeout=5)
    assert closed.type is aiohttp.WSMsgType.CLOSE and closed.data == SESSION_ENDED
    assert not other.closed  # another session of the same agent stays
    await other.close()


async def test_a_disabled_account_loses_its_open_desktop_at_the_next_sweep(
        env: WebEnv) -> None:
    ws = await env.client.ws_connect("/ws/agent", headers=await env.cookie("8001"))
    await ws.receive_json()
    ctx = env.client.app[CTX]  # type: ignore[index]
    assert await sweep_session_sockets(ctx) == 0  # live: nothing to close
    await disable_user(env.store, datetime.now(UTC), "8001", actor="cli:test")
    assert await sweep_session_sockets(ctx) == 1
    closed = await ws.receive(timeout=5)
    assert closed.type is aiohttp.WSMsgType.CLOSE and closed.data == SESSION_ENDED


async def test_deeply_nested_json_is_400_and_reaches_no_action(env: WebEnv) -> None:
    deep = b'{"reason": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for body in (deep, b"[" * 100_000, b"{"):
        r = await env.client.post("/api/agent/pause", data=body, headers={
            **await env.cookie("8001"), "Content-Type": "application/json"})
        assert r.status == 400 and (await r.json())["error_id"] == "bad_json"
    assert env.ami.sent == []


async def test_agent_gets_a_hello_then_only_its_own_screen_pops(env: WebEnv) -> None:
    ws1 = await env.client.ws_connect("/ws/agent", headers=await env.cookie("8001"))
    ws2 = await env.client.ws_connect("/ws/agent", headers=await env.cookie("8002"))
    hello1, hello2 = await ws1.receive_json(), await ws2.receive_json()
    assert (hello1["type"], hello1["agent_number"]) == ("hello", "8001")
    assert hello1["agent"]["status"] == "logged_out" and "today" in hello1
    assert hello2["agent_number"] == "8002"

    for frame in (member_added("8001"), member_added("8002")):
        env.service.on_message(frame, BASE + 0.5)
    assert (await ws1.receive_json())["agent"]["status"] == "available"
    assert (await ws2.receive_json())["agent"]["status"] == "available"

    env.service.on_message(first_event(SCENARIO_01, "UserEvent"), BASE + 13.358)
    env.service.on_message(first_event(SCENARIO_01, "QueueCallerJoin"), BASE + 13.359)
    env.service.on_message(first_event(SCENARIO_01, "AgentCalled"), BASE + 13.359)
    kinds = []
    while "pop" not in kinds:
        msg = await ws1.receive_json()
        kinds.append(msg["type"])
        if msg["type"] == "pop":
            assert msg["linked_id"] == "1795330137.0"
            assert msg["card"]["caller"] == "13800138000"
    # 8002's next message is its own pause, not 8001's pop.
    env.service.on_message(pause_event("8002"), BASE + 14)
    msg2 = await ws2.receive_json()
    assert msg2["type"] == "state" and msg2["agent"]["status"] == "paused"
    assert msg2["agent"]["reason"] == "lunch"
    await ws1.close()
    await ws2.close()


async def test_reconnecting_desktop_gets_the_current_card_in_its_hello(env: WebEnv) -> None:
    env.service.on_message(member_added("8001"), BASE + 0.5)
    for name in ("UserEvent", "QueueCallerJoin", "AgentCalled"):
        env.service.on_message(first_event(SCENARIO_01, name), BASE + 13.359)
    await env.service.settle()
    ws = await env.client.ws_connect("/ws/agent", headers=await env.cookie("8001"))
    hello = await ws.receive_json()
    assert hello["agent"]["status"] == "ringing"
    assert hello["card"]["merchant"]["name"] == "鑫源便利店"
    await ws.close()


# --------------------------------------------------------------------------- actions


async def test_login_action_sends_queueadd_and_answers_ok(env: WebEnv) -> None:
    r = await env.client.post("/api/agent/login", json={}, headers=await env.cookie("8001"))
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["ok"] is True and body["queues"] == ["aftersales", "presales", "night"]
    assert [a for a, _ in env.ami.sent] == ["QueueAdd", "QueueAdd", "QueueAdd"]


async def test_refused_action_is_409_with_the_rules_error_id(env: WebEnv) -> None:
    r = await env.client.post("/api/agent/pause", json={"reason": "lunch"},
                              headers=await env.cookie("8001"))
    assert r.status == 409
    assert (await r.json())["error_id"] == "not_logged_in"
    env.service.on_message(member_added("8001"), BASE + 0.5)
    r = await env.client.post("/api/agent/hangup", json={}, headers=await env.cookie("8001"))
    assert (r.status, (await r.json())["error_id"]) == (409, "not_on_call")
    assert env.ami.sent == []


async def test_bad_input_is_422_naming_the_field(env: WebEnv) -> None:
    env.service.on_message(member_added("8001"), BASE + 0.5)
    r = await env.client.post("/api/agent/pause", json={"reason": "nap\r\nAction: Logoff"},
                              headers=await env.cookie("8001"))
    assert r.status == 422 and (await r.json())["field"] == "reason"
    r = await env.client.post("/api/agent/dial", json={"number": "12", "idempotency_key":
                                                       "d-0123456789"},
                              headers=await env.cookie("8001"))
    assert r.status == 422 and (await r.json())["field"] == "phone"
    form = await env.client.post("/api/agent/pause", data={"reason": "lunch"},
                                 headers=await env.cookie("8001"))
    error = await form.json()  # a form is what a cross-site page could send: JSON only
    assert form.status == 415 and error["field"] == "body" and error["error_id"] == "json_required"
    assert env.ami.sent == []


async def test_pause_action_sends_queuepause_with_the_reason(env: WebEnv) -> None:
    env.service.on_message(member_added("8001"), BASE + 0.5)
    r = await env.client.post("/api/agent/pause", json={"reason": "training"},
                              headers=await env.cookie("8001"))
    assert r.status == 200
    assert env.ami.sent == [("QueuePause", {"Interface": lab("8001"), "Paused": "true",
                                            "Reason": "training"})]


async def test_click_to_dial_twice_with_one_key_dials_once(env: WebEnv) -> None:
    env.service.on_message(member_added("8001"), BASE + 0.5)
    body = {"number": "13800138000", "idempotency_key": "d-9f0c1e2d3b4a", "label": "鑫源"}
    first = await env.client.post("/api/agent/dial", json=body, headers=await env.cookie("8001"))
    second = await env.client.post("/api/agent/dial", json=body, headers=await env.cookie("8001"))
    assert first.status == 200 and second.status == 200
    assert (await second.json())["repeated"] is True
    assert len(env.ami.originates) == 1


async def test_asterisk_refusal_is_502_with_its_message(env: WebEnv) -> None:
    env.ami.errors["QueueAdd"] = "Unable to add interface: No such queue"
    r = await env.client.post("/api/agent/login", json={}, headers=await env.cookie("8001"))
    body = await r.json()
    assert (r.status, body["error_id"]) == (502, "ami_refused")
    assert "No such queue" in body["message"]


async def test_actions_without_an_ami_connection_are_503(cti_store: Store) -> None:
    async for env in make_env(cti_store, ami=None):
        r = await env.client.post("/api/agent/login", json={}, headers=await env.cookie("8001"))
        assert (r.status, (await r.json())["error_id"]) == (503, "ami_unavailable")
        r = await env.client.post("/api/agent/phone/answer", json={},
                                  headers=await env.cookie("8001"))
        assert r.status == 503


async def test_demo_phone_buttons_call_the_simulators_phones(cti_store: Store) -> None:
    class Phones:
        def __init__(self) -> None:
            self.calls: list[tuple[str, str]] = []

        def answer(self, interface: str) -> bool:
            self.calls.append(("answer", interface))
            return True

        def hangup(self, interface: str) -> bool:
            self.calls.append(("hangup", interface))
            return False

    async for env in make_env(cti_store, ami=FakeAmiActions()):
        phones = Phones()
        env.service.demo_phones = phones
        r = await env.client.post("/api/agent/phone/answer", json={},
                                  headers=await env.cookie("8001"))
        assert r.status == 200
        r = await env.client.post("/api/agent/phone/hangup", json={},
                                  headers=await env.cookie("8001"))
        assert (r.status, (await r.json())["error_id"]) == (409, "phone_idle")
        assert phones.calls == [("answer", lab("8001")), ("hangup", lab("8001"))]
        page = await env.client.get("/desk", headers=await env.cookie("8001"))
        assert '"demo_phone": true' in await page.text()


async def test_actions_need_an_agent_session(env: WebEnv) -> None:
    r = await env.client.post("/api/agent/login", json={})
    assert r.status == 401
    r = await env.client.post("/api/agent/login", json={}, headers=await env.cookie("disp"))
    assert r.status == 403


# --------------------------------------------------------------------------- page


async def test_desk_page_is_served_in_both_languages_with_its_own_assets(env: WebEnv) -> None:
    zh = await env.client.get("/desk", headers=await env.cookie("8001"))
    text = await zh.text()
    assert zh.status == 200 and "坐席工作台" in text and "工号 8001" in text
    assert "/cti/static/desk.js" in text and "/cti/static/desk.css" in text
    assert_loads_common_first(text, "/cti/static/desk.js",
                              "/callbacks/static/desk_offer.js",  # call-back offers
                              "/callbacks/static/cb_form.js",  # my 回访: the form's body
                              "/callbacks/static/desk_callbacks.js")  # and the panel
    cookie = (await env.cookie("8001"))["Cookie"]
    en = await env.client.get("/desk", headers={"Cookie": cookie + "; cc_lang=en"})
    assert "Agent desktop" in await en.text()
    for asset in ("desk.js", "desk.css"):
        r = await env.client.get(f"/cti/static/{asset}")
        assert r.status == 200


async def test_desk_redirects_anonymous_users_and_refuses_other_roles(env: WebEnv) -> None:
    r = await env.client.get("/desk", allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == "/login?next=/desk"
    r = await env.client.get("/desk", headers=await env.cookie("disp"))
    assert r.status == 403


async def test_agents_land_on_the_desk_after_login(env: WebEnv) -> None:
    r = await env.client.post("/login", data={"username": "8001", "password": "password-1",
                                              "next": "/"}, allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == "/desk"


async def test_state_endpoint_matches_the_hello(env: WebEnv) -> None:
    env.service.on_message(member_added("8001"), BASE + 0.5)
    env.service.on_message(pause_event("8001", "meeting"), BASE + 1)
    await env.service.settle()
    r = await env.client.get("/api/agent/state", headers=await env.cookie("8001"))
    body = await r.json()
    assert body["agent"]["status"] == "paused" and body["agent"]["reason"] == "meeting"
    assert body["pause_reasons"][0] == "lunch"


# --------------------------------------------------------------------------- wiring


class LifecycleAmi(FakeAmiActions):
    """A FakeAmiActions with the client's lifecycle, as cti.wiring runs it."""

    def __init__(self) -> None:
        super().__init__()
        self.started = self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    def health(self) -> dict[str, Any]:
        return {"ok": self.started and not self.stopped, "state": "connected"}


async def test_install_adds_the_component_the_desk_and_the_ami_probe(cti_store: Store) -> None:
    import gc

    from callcenter.runtime import RunOptions, Runtime
    from cti import wiring

    settings = load_settings(environ={"CALLCENTER_WEB_SESSION_SECRET": SECRET})
    engine = cti_store.sessions.kw["bind"]
    runtime = Runtime(settings=settings, engine=engine, store=cti_store)
    ami = LifecycleAmi()
    service = await wiring.install(runtime, RunOptions(), ami=ami)
    assert wiring.service_of(runtime) is service and service.ami is ami
    assert [m.name for m in runtime.modules] == ["cti"]
    assert [link.href for link in runtime.modules[0].links] == ["/desk"]
    (component,) = runtime.components
    try:
        await component.start()
        report = await runtime.health["ami"]()
        assert report["ok"] is True and report["cti"]["write_backlog"] == 0
    finally:
        await component.stop()
        gc.unfreeze()  # the policy froze the test process's objects
    assert ami.stopped


async def test_without_an_ami_host_the_desk_still_installs(cti_store: Store) -> None:
    from callcenter.runtime import RunOptions, Runtime
    from cti import wiring

    settings = load_settings(environ={"CALLCENTER_WEB_SESSION_SECRET": SECRET})
    runtime = Runtime(settings=settings, engine=cti_store.sessions.kw["bind"], store=cti_store)
    await wiring.install(runtime, RunOptions())
    assert await runtime.health["ami"]() == {"ok": True, "state": "not configured",
                                             "cti": wiring.service_of(runtime).health()}
