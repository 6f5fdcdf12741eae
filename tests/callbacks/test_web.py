"""Callbacks over HTTP: the exact ``GET /api/callbacks?state=…`` contract, an agent's own
list and form, the team lead's planning, review and monthly CSV, the page's script."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from callcenter.callbacks.offers import QueueCallbackOffers
from callcenter.callbacks.service import CallbackService
from callcenter.callbacks.web import web_module
from callcenter.callbacks_store import SqlCallbackStore
from callcenter.db.repositories import Store
from callcenter.web.app import build_web_app
from tests.business.conftest import SHOP, TZ, FakeClock, seed
from tests.business.web_env import WebEnv, add_users, business_settings
from tests.callbacks.test_offers import Desks
from tests.fakes.hub import RecordingHub


@asynccontextmanager
async def env(store: Store, desks: Desks | None = None
              ) -> AsyncIterator[tuple[WebEnv, CallbackService]]:
    clock = FakeClock()
    hub = RecordingHub()
    service = CallbackService(SqlCallbackStore(store), hub, TZ)
    settings = business_settings(False)
    offers = None if desks is None else QueueCallbackOffers(service, desks)
    app = build_web_app(settings, store, modules=[web_module(service, offers)],
                        clock=clock.epoch, hub=hub)
    seeded = await seed(store)
    ids = await add_users(store, clock)
    async with TestClient(TestServer(app)) as client:
        yield WebEnv(client, None, hub, clock, store, seeded, settings, ids), service  # type: ignore[arg-type]


async def _post(e: WebEnv, user: str, url: str, body: Any) -> Any:
    headers = {**await e.auth(user), "Origin": f"http://{e.client.host}:{e.client.port}"}
    return await e.client.post(url, json=body, headers=headers)


async def test_the_list_contract_the_form_and_the_lead(sqlite_store: Store) -> None:
    async with env(sqlite_store) as (e, _service):
        r = await _post(e, "sup", "/api/callbacks/upload",
                        {"date": "2026-11-22", "csv": f"{SHOP},service,回访\n{SHOP},"
                                                      "queue_callback,\n"})
        assert r.status == 200, await r.text()
        assert (await r.json())["planned"] == 2
        r = await e.client.get("/api/callbacks?state=planned", headers=await e.auth("sup"))
        listed = await r.json()
        assert isinstance(listed, list) and len(listed) == 2
        for item in listed:
            assert {"merchant_id", "kind", "due_at", "state"} <= set(item)
            assert item["state"] == "planned" and item["merchant_id"] == e.seed.shop.id
        assert {i["kind"] for i in listed} == {"service", "queue_callback"}
        # both went to agent1 and agent2, one each; an agent sees their own only
        mine = await (await e.client.get("/api/callbacks",
                                         headers=await e.auth("agent1"))).json()
        assert len(mine) == 1 and mine[0]["agent_number"] == "8001"
        theirs = next(i for i in listed if i["agent_number"] == "8002")
        r = await _post(e, "agent1", f"/api/callbacks/{theirs['id']}/form", {"outcome": "x"})
        assert r.status == 404
        r = await _post(e, "agent1", f"/api/callbacks/{mine[0]['id']}/form",
                        {"outcome": "follow_up", "identity_stated": True,
                         "purpose_stated": True, "accepted": True, "follow_up": "换机",
                         "answers": {"satisfaction": 3, "attitude": 4, "solved": "partly"}})
        assert r.status == 200, await r.text()
        body = await r.json()
        assert body["state"] == "pending" and body["clock"]["state"] == "running"
        assert body["clock"]["remaining_s"] > 47 * 3600
        pending = await (await e.client.get("/api/callbacks?state=pending",
                                            headers=await e.auth("sup"))).json()
        assert [p["id"] for p in pending] == [mine[0]["id"]]
        r = await _post(e, "sup", f"/api/callbacks/{mine[0]['id']}/review", {})
        assert r.status == 409  # not done yet
        bad = await e.client.get("/api/callbacks?state=lost", headers=await e.auth("sup"))
        assert bad.status == 422
        r = await e.client.get("/api/callbacks/summary?month=2026-11&format=csv",
                               headers=await e.auth("sup"))
        text = (await r.read()).decode("utf-8-sig")
        assert r.status == 200 and text.startswith("group,total,planned,pending,done")
        assert "total,2,1,1,0" in text


async def test_opening_a_callback_on_the_desk_pushes_the_history_before_it_may_dial(
        sqlite_store: Store) -> None:
    async with env(sqlite_store, Desks()) as (e, _service):
        r = await _post(e, "sup", "/api/callbacks/upload",
                        {"date": "2026-11-22", "csv": f"{SHOP},service,回访\n{SHOP},"
                                                      "complaint_followup,\n"})
        assert r.status == 200, await r.text()
        listed = await (await e.client.get("/api/callbacks", headers=await e.auth("sup"))).json()
        mine = next(i for i in listed if i["agent_number"] == "8001")
        theirs = next(i for i in listed if i["agent_number"] == "8002")
        r = await _post(e, "agent1", f"/api/callbacks/{mine['id']}/open", {})
        assert r.status == 200, await r.text()
        body = await r.json()
        assert body["callback_id"] == mine["id"] and body["card"]["merchant_number"] == SHOP
        # the card goes to the desk's screen pop first, then the desk may dial
        sent = [m for m in e.hub.to("agent:8001") if m["type"] in ("pop", "service_callback")]
        assert [m["type"] for m in sent] == ["pop", "service_callback"]
        assert sent[0]["card"]["linked_id"] == f"callback-{mine['id']}"
        assert sent[1] == {"type": "service_callback", "event": "opened",
                           "callback_id": mine["id"], "number": body["number"]}
        # someone else's callback is not found; the team lead does not work callbacks
        r = await _post(e, "agent1", f"/api/callbacks/{theirs['id']}/open", {})
        assert r.status == 404
        r = await _post(e, "sup", f"/api/callbacks/{mine['id']}/open", {})
        assert r.status == 403
        r = await _post(e, "agent1", f"/api/callbacks/{mine['id']}/form",
                        {"outcome": "completed", "identity_stated": True,
                         "purpose_stated": True, "accepted": True,
                         "answers": {"satisfaction": 5, "attitude": 5, "solved": "yes"}})
        assert r.status == 200, await r.text()
        r = await _post(e, "agent1", f"/api/callbacks/{mine['id']}/open", {})
        assert r.status == 422  # a done callback is not dialled again


async def test_the_page_and_its_script(sqlite_store: Store) -> None:
    async with env(sqlite_store) as (e, _service):
        page = await e.client.get("/callbacks", headers=await e.auth("agent1"))
        html = await page.text()
        assert page.status == 200 and "/callbacks/static/callbacks.js" in html
        assert "<script>" not in html  # no inline script (CSP)
        script = await e.client.get("/callbacks/static/callbacks.js")
        assert script.status == 200 and "/api/callbacks" in await script.text()
